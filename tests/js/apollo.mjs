// Tenantry driven by a real client: Apollo Client 3 (core, no React) under node, against a
// running server seeded with the demo tenants. Run by tests/it/apollo.rs:
//
//   ALICE_TOKEN=… VICTOR_TOKEN=… node tests/js/apollo.mjs http://127.0.0.1:PORT/graphql
//
// ALICE_TOKEN is alice@acme.test (OWNER of acme), VICTOR_TOKEN victor@acme.test (VIEWER of
// acme). Every request goes through a recording `fetch`, so the test checks what Apollo
// actually sent and what the server answered, not only what Apollo made of it. Prints one
// line per scenario and `apollo: ok` at the end; exits 1 with the reason on any failure.

import crypto from 'node:crypto';
import { ApolloClient, ApolloError, HttpLink, InMemoryCache, gql } from '@apollo/client/core/index.js';
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries/index.js';

const [, , url] = process.argv;
const { ALICE_TOKEN, VICTOR_TOKEN } = process.env;
if (!url || !ALICE_TOKEN || !VICTOR_TOKEN) {
  console.error('usage: ALICE_TOKEN=… VICTOR_TOKEN=… node apollo.mjs <graphql url>');
  process.exit(2);
}

/// Apollo Client 3's own default is `Accept: */*` (served as application/json); Apollo
/// Client 4 and the GraphQL-over-HTTP specification send this one instead.
const GRAPHQL_RESPONSE = 'application/graphql-response+json,application/json;q=0.9';

const sha256 = (text) => crypto.createHash('sha256').update(text).digest('hex');

class Failure extends Error {}
function check(condition, message, detail) {
  if (!condition) {
    throw new Failure(detail === undefined ? message : `${message}: ${JSON.stringify(detail, null, 1)}`);
  }
}

/// A `fetch` that records, for each request, its method, its GraphQL parameters (from the
/// query string of a GET, the JSON body of a POST), its Accept header, and the answer's
/// status and parsed body.
function recordingFetch(log) {
  return async (input, init = {}) => {
    const target = new URL(typeof input === 'string' ? input : input.url);
    const method = (init.method || 'GET').toUpperCase();
    let params = {};
    if (method === 'GET') {
      for (const [key, value] of target.searchParams) {
        params[key] = key === 'variables' || key === 'extensions' ? JSON.parse(value) : value;
      }
    } else {
      params = JSON.parse(init.body);
    }
    const accept = new Headers(init.headers).get('accept');
    const response = await fetch(input, init);
    const text = await response.clone().text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    log.push({ method, params, accept, status: response.status, body });
    return response;
  };
}

/// An Apollo client for `token`; with `apq`, behind the persisted-query link (`get`: hashed
/// queries over GET); `accept` replaces Apollo's default Accept header.
function client({ token, log = [], apq = false, get = false, accept } = {}) {
  const headers = { authorization: `Bearer ${token}` };
  if (accept) headers.accept = accept;
  const http = new HttpLink({ uri: url, fetch: recordingFetch(log), headers });
  const link = apq ? createPersistedQueryLink({ sha256, useGETForHashedQueries: get }).concat(http) : http;
  return new ApolloClient({
    link,
    cache: new InMemoryCache(),
    defaultOptions: { query: { fetchPolicy: 'network-only' } },
  });
}

/// The error `promise` rejects with (fails if it resolves).
async function rejection(promise, what) {
  try {
    const result = await promise;
    throw new Failure(`${what} succeeded: ${JSON.stringify(result)}`);
  } catch (e) {
    if (e instanceof Failure) throw e;
    return e;
  }
}

const DEMO_ACME = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing'];

// The feed of bench/queries/feed.graphql, with its page sizes as variables.
const FEED = gql`
  query Feed($first: Int!, $messages: Int!) {
    contacts(first: $first) {
      edges {
        node {
          id
          name
          conversations(first: 10) {
            edges {
              node {
                subject
                status
                messages(first: $messages) {
                  edges {
                    node {
                      direction
                      body
                    }
                  }
                }
              }
            }
          }
        }
      }
      pageInfo {
        hasNextPage
      }
    }
  }
`;

async function feedWithVariables() {
  const log = [];
  const alice = client({ token: ALICE_TOKEN, log });
  const { data, errors } = await alice.query({ query: FEED, variables: { first: 2, messages: 1 } });
  check(!errors, 'the feed has no errors', errors);
  const contacts = data.contacts.edges.map((e) => e.node);
  check(
    JSON.stringify(contacts.map((c) => c.name)) === JSON.stringify(DEMO_ACME.slice(0, 2)),
    'first: 2 gives the two oldest acme contacts',
    contacts.map((c) => c.name),
  );
  check(data.contacts.pageInfo.hasNextPage === true, 'a third contact is on the next page');
  for (const contact of contacts) {
    const conversations = contact.conversations.edges.map((e) => e.node);
    check(conversations.length === 1, `${contact.name} has the demo conversation`, conversations);
    check(conversations[0].subject.startsWith('Welcome to '), 'its subject', conversations[0]);
    const messages = conversations[0].messages.edges;
    check(messages.length === 1, 'messages(first: $messages) gives one of the two messages', messages);
    check(typeof messages[0].node.body === 'string' && messages[0].node.body, 'a message body', messages);
  }
  check(log.length === 1 && log[0].method === 'POST', 'one POST', log);
  check(
    log[0].params.variables?.first === 2 && log[0].params.variables?.messages === 1,
    'the variables were sent as variables',
    log[0].params,
  );
  check(log[0].params.operationName === 'Feed', 'with the operation name', log[0].params);

  // The same document with other values: the whole first page, three messages asked for.
  const all = await alice.query({ query: FEED, variables: { first: 10, messages: 3 } });
  const names = all.data.contacts.edges.map((e) => e.node.name);
  check(JSON.stringify(names) === JSON.stringify(DEMO_ACME), 'first: 10 gives all of acme and only acme', names);
  check(all.data.contacts.pageInfo.hasNextPage === false, 'no next page');
  const bodies = all.data.contacts.edges[0].node.conversations.edges[0].node.messages.edges;
  check(bodies.length === 2, 'messages(first: 3) gives both messages', bodies);
  console.log(`feed with variables: ok (${names.join(', ')})`);
}

async function mutationThenQuery() {
  // Through the APQ link with hashed queries over GET: a mutation is still POSTed.
  const log = [];
  const alice = client({ token: ALICE_TOKEN, log, apq: true, get: true });
  const name = `Apollo Client ${crypto.randomUUID().slice(0, 8)}`;
  const { data, errors } = await alice.mutate({
    mutation: gql`
      mutation Create($input: CreateContactInput!) {
        createContact(input: $input) {
          id
          name
          email
        }
      }
    `,
    variables: { input: { name, email: 'apollo@example.test' } },
  });
  check(!errors, 'createContact has no errors', errors);
  check(data.createContact.name === name && data.createContact.id, 'createContact returns the contact', data);
  check(log.length > 0 && log.every((r) => r.method === 'POST'), 'a mutation is never sent with GET', log);
  check(log.at(-1).status === 200, 'the mutation answered 200', log.at(-1));

  const query = gql`
    query Names {
      contacts(first: 50) {
        edges {
          node {
            id
            name
          }
        }
      }
    }
  `;
  const read = await alice.query({ query, fetchPolicy: 'network-only' });
  const names = read.data.contacts.edges.map((e) => e.node.name);
  check(names.includes(name), 'the query sees the new contact', names);
  check(names.length === DEMO_ACME.length + 1, 'beside the demo contacts', names);
  // A second client (another user of the same tenant) sees it too: it was committed.
  const victor = client({ token: VICTOR_TOKEN });
  const seen = await victor.query({ query });
  check(
    seen.data.contacts.edges.some((e) => e.node.id === data.createContact.id),
    'another session of the tenant sees the committed contact',
    seen.data,
  );
  console.log(`mutation then query: ok (${name})`);
}

async function errorsWithCodes() {
  const createAsViewer = gql`
    mutation CreateAsViewer {
      createContact(input: { name: "Not allowed" }) {
        id
      }
    }
  `;
  for (const accept of [undefined, GRAPHQL_RESPONSE]) {
    const log = [];
    const victor = client({ token: VICTOR_TOKEN, log, accept });
    // A resolver's error: HTTP 200 with `data`, and Apollo's graphQLErrors.
    const forbidden = await rejection(victor.mutate({ mutation: createAsViewer }), 'createContact as VIEWER');
    check(forbidden instanceof ApolloError, 'an ApolloError', String(forbidden));
    const [error] = forbidden.graphQLErrors;
    check(error?.extensions?.code === 'FORBIDDEN', 'a VIEWER creating a contact is FORBIDDEN', forbidden.graphQLErrors);
    check(/^[0-9a-f-]{36}$/.test(error.extensions.requestId ?? ''), 'with extensions.requestId', error);
    check(JSON.stringify(error.path) === '["createContact"]', 'at the field', error);
    check(log[0].status === 200 && 'data' in log[0].body, 'a field error is 200 with data', log[0]);

    // A request error (validation): no data; 200 under application/json, so Apollo shows
    // graphQLErrors; 400 under graphql-response+json, so Apollo shows a ServerError.
    const invalid = await rejection(
      victor.query({ query: gql`query Invalid { noSuchField }` }),
      'an invalid query',
    );
    check(invalid instanceof ApolloError, 'an ApolloError', String(invalid));
    check(!('data' in log[1].body), 'a request error has no data', log[1]);
    const errors = accept
      ? invalid.networkError?.statusCode === 400 && invalid.networkError.result?.errors
      : log[1].status === 200 && invalid.graphQLErrors;
    check(
      errors?.[0]?.extensions?.code === 'BAD_USER_INPUT' && errors[0].extensions.requestId,
      `a request error under Accept ${accept ?? '(Apollo 3 default)'}`,
      { status: log[1].status, graphQLErrors: invalid.graphQLErrors, networkError: invalid.networkError?.result },
    );
  }
  console.log('errors with extensions.code: ok (FORBIDDEN, BAD_USER_INPUT)');
}

/// One APQ round trip: the first client sends the hash alone, is told
/// PERSISTED_QUERY_NOT_FOUND, and sends the text; a second client, knowing nothing, is
/// served by the hash alone.
async function apqRoundTrip({ get, accept }) {
  const label = `${get ? 'GET' : 'POST'}, Accept ${accept ? 'graphql-response+json' : '*/*'}`;
  const operation = `Apq${get ? 'Get' : 'Post'}${accept ? 'GraphqlResponse' : 'Json'}`;
  // A document of its own per run, so no earlier run has registered its hash.
  const query = gql(`query ${operation}($first: Int!) { contacts(first: $first) { edges { node { name } } } }`);
  const expectName = (data) =>
    check(data?.contacts?.edges?.[0]?.node?.name === DEMO_ACME[0], `${label}: the right data`, data);
  const hashed = get ? 'GET' : 'POST';

  const log = [];
  const first = await client({ token: ALICE_TOKEN, log, apq: true, get, accept }).query({
    query,
    variables: { first: 1 },
  });
  expectName(first.data);
  check(log.length === 2, `${label}: the hash, then the text`, log);
  const [miss, register] = log;
  const hash = miss.params.extensions?.persistedQuery?.sha256Hash;
  check(miss.method === hashed, `${label}: the hash alone is sent with ${hashed}`, miss);
  check(miss.params.query === undefined && /^[0-9a-f]{64}$/.test(hash ?? ''), `${label}: no text, a hash`, miss.params);
  check(miss.params.extensions.persistedQuery.version === 1, `${label}: APQ version 1`, miss.params);
  check(miss.status === (accept ? 400 : 200), `${label}: PERSISTED_QUERY_NOT_FOUND's status`, miss);
  check(!('data' in miss.body), `${label}: an unknown hash has no data`, miss.body);
  const [notFound] = miss.body.errors ?? [];
  check(
    notFound?.extensions?.code === 'PERSISTED_QUERY_NOT_FOUND' && notFound.message === 'PersistedQueryNotFound',
    `${label}: the server does not know the hash`,
    miss.body,
  );
  check(register.method === 'POST', `${label}: the text is POSTed`, register);
  check(typeof register.params.query === 'string', `${label}: with the text`, register.params);
  check(sha256(register.params.query) === hash, `${label}: the hash is the text's SHA-256`, register.params);
  check(register.params.extensions?.persistedQuery?.sha256Hash === hash, `${label}: and the hash`, register.params);
  check(register.status === 200, `${label}: registered and run`, register);

  // A new client (new cache, no memory of the first) sends the hash alone and is served.
  const later = [];
  const second = await client({ token: ALICE_TOKEN, log: later, apq: true, get, accept }).query({
    query,
    variables: { first: 1 },
  });
  expectName(second.data);
  check(later.length === 1, `${label}: one request the second time`, later);
  const [served] = later;
  check(served.method === hashed, `${label}: sent with ${hashed}`, served);
  check(served.params.query === undefined, `${label}: without the text`, served.params);
  check(served.params.extensions?.persistedQuery?.sha256Hash === hash, `${label}: by the same hash`, served.params);
  check(served.status === 200 && !served.body.errors, `${label}: served by hash alone`, served);
  console.log(`APQ round trip (${label}): ok, ${hash.slice(0, 12)}…`);
}

const scenarios = [
  ['the feed query with variables', feedWithVariables],
  ['a mutation, then a query that sees it', mutationThenQuery],
  ['errors with extensions.code', errorsWithCodes],
  ...[false, true].flatMap((get) =>
    [undefined, GRAPHQL_RESPONSE].map((accept) => [`APQ over ${get ? 'GET' : 'POST'}`, () => apqRoundTrip({ get, accept })]),
  ),
];

for (const [name, run] of scenarios) {
  try {
    await run();
  } catch (e) {
    console.error(`FAILED: ${name}: ${e instanceof Failure ? e.message : e?.stack ?? e}`);
    if (e instanceof ApolloError) {
      console.error(JSON.stringify({ graphQLErrors: e.graphQLErrors, networkError: e.networkError?.result }, null, 1));
    }
    process.exit(1);
  }
}
console.log('apollo: ok');
