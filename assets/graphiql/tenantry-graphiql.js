// Tenantry's GraphiQL: the sign-in bar (the `login` mutation, or a pasted token or API key),
// the tenant switcher (`myTenants`, `switchTenant`), the session kept in localStorage, and
// the fetcher GraphiQL runs queries through. Plain ES2017 with no build step, loaded after
// the vendored React, ReactDOM and GraphiQL UMD bundles (globals React, ReactDOM, GraphiQL).
(function () {
  'use strict';

  var ENDPOINT = '/graphql';
  // Subscriptions run over a WebSocket on the same path (graphql-transport-ws); the
  // session's token goes in `connection_init`, as browsers cannot set WebSocket headers.
  var SUBSCRIPTION_URL = (window.location.protocol === 'https:' ? 'wss://' : 'ws://') +
    window.location.host + ENDPOINT;
  var STORAGE_KEY = 'tenantry.graphiql.session';
  var DEFAULT_QUERY = [
    '# Welcome to Tenantry\'s GraphiQL.',
    '#',
    '# Sign in above (with `serve --demo`: alice@acme.test, password demo-password),',
    '# or paste a token. The tenant menu switches between your tenants.',
    '# Press the run button (Ctrl-Enter) to run a query; the book icon opens the docs.',
    '',
    '{',
    '  me { user { email } role tenant { slug name } }',
    '  contacts(first: 5) { totalCount edges { node { name company tags } } }',
    '}',
    ''
  ].join('\n');

  var $ = function (id) { return document.getElementById(id); };
  var ui = {
    signin: $('tq-signin'), email: $('tq-email'), password: $('tq-password'),
    tenant: $('tq-tenant'), signinButton: $('tq-signin-button'), token: $('tq-token'),
    useToken: $('tq-use-token'), session: $('tq-session'), who: $('tq-who'),
    tenants: $('tq-tenants'), signout: $('tq-signout'), message: $('tq-message')
  };

  // ---- the session: {accessToken, refreshToken?, email?} in localStorage ----------------

  function loadSession() {
    try {
      var s = JSON.parse(window.localStorage.getItem(STORAGE_KEY));
      return s && typeof s.accessToken === 'string' ? s : null;
    } catch (e) {
      return null;
    }
  }
  function saveSession(s) {
    session = s;
    try {
      if (s) window.localStorage.setItem(STORAGE_KEY, JSON.stringify(s));
      else window.localStorage.removeItem(STORAGE_KEY);
    } catch (e) { /* storage disabled: the session lasts as long as the page */ }
  }
  var session = loadSession();

  function say(text, isError) {
    ui.message.textContent = text || '';
    ui.message.className = isError ? 'tq-error' : '';
  }

  // "CODE: message" of a response's first error, or null.
  function firstError(body) {
    var e = body && body.errors && body.errors[0];
    if (!e) return null;
    var code = e.extensions && e.extensions.code;
    return (code ? code + ': ' : '') + (e.message || 'error');
  }
  function errorCode(body) {
    var e = body && body.errors && body.errors[0];
    return (e && e.extensions && e.extensions.code) || null;
  }

  // ---- HTTP ------------------------------------------------------------------------------

  // POSTs a GraphQL request; always resolves to a GraphQL-shaped body, also for transport
  // errors, so GraphiQL shows them in its result pane.
  function post(payload, token, headers) {
    var h = { 'Content-Type': 'application/json', 'Accept': 'application/graphql-response+json, application/json' };
    if (token) h.Authorization = 'Bearer ' + token;
    Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
    return fetch(ENDPOINT, { method: 'POST', headers: h, body: JSON.stringify(payload), credentials: 'same-origin' })
      .then(function (response) {
        return response.text().then(function (text) {
          try {
            return JSON.parse(text);
          } catch (e) {
            return { errors: [{ message: 'HTTP ' + response.status + ': ' + text.slice(0, 500) }] };
          }
        });
      }, function (e) {
        return { errors: [{ message: 'The server could not be reached: ' + e.message }] };
      });
  }

  // A refresh in flight, shared by every request that found the access token expired.
  var refreshing = null;
  function refreshSession() {
    if (!session || !session.refreshToken) return Promise.resolve(false);
    if (!refreshing) {
      var old = session;
      refreshing = post({
        query: 'mutation($r: String!) { refreshToken(refreshToken: $r) { accessToken refreshToken } }',
        variables: { r: old.refreshToken }
      }).then(function (body) {
        refreshing = null;
        var pair = body && body.data && body.data.refreshToken;
        if (!pair) return false;
        saveSession({ accessToken: pair.accessToken, refreshToken: pair.refreshToken, email: old.email });
        return true;
      });
    }
    return refreshing;
  }

  // A request with the session's token. An access token lives 15 minutes: on
  // UNAUTHENTICATED it is refreshed once (with the refresh token, if the session has one)
  // and the request retried; if that fails too, the session is over.
  function call(payload, headers) {
    var overridden = headers && Object.keys(headers).some(function (k) { return k.toLowerCase() === 'authorization'; });
    var token = session && session.accessToken;
    return post(payload, token, headers).then(function (body) {
      if (overridden || !token || errorCode(body) !== 'UNAUTHENTICATED') return body;
      return refreshSession().then(function (ok) {
        if (ok) return post(payload, session.accessToken, headers);
        if (session && session.accessToken === token) {
          saveSession(null);
          showSignedOut();
          say('The session expired or was revoked: sign in again.', true);
          renderGraphiQL();
        }
        return body;
      });
    });
  }

  function gql(query, variables) {
    return call({ query: query, variables: variables || {} });
  }

  // The operation GraphiQL is about to run, from the parsed document it passes.
  function operationType(params, opts) {
    var doc = opts && opts.documentAST;
    if (!doc) {
      // No parsed document passed: read the first operation keyword (after comments).
      var text = (params.query || '').replace(/#[^\n]*/g, '');
      var match = /^\s*(query|mutation|subscription)\b/.exec(text);
      return match ? match[1] : 'query';
    }
    var ops = doc.definitions.filter(function (d) { return d.kind === 'OperationDefinition'; });
    var op = ops.filter(function (d) { return params.operationName ? d.name && d.name.value === params.operationName : true; })[0];
    return (op && op.operation) || 'query';
  }

  // GraphiQL's fetcher: every operation over POST /graphql with the session's token; the
  // headers typed in GraphiQL's Headers tab are added (and win, e.g. another Authorization).
  function fetcher(params, opts) {
    var headers = (opts && opts.headers) || {};
    if (operationType(params, opts) === 'subscription') {
      // GraphiQL's fetcher recognises a subscription by its operation name: name it.
      var named = opts && opts.documentAST && opts.documentAST.definitions.filter(function (d) {
        return d.kind === 'OperationDefinition' && d.operation === 'subscription' && d.name;
      })[0];
      if (named && !params.operationName) {
        params = Object.assign({}, params, { operationName: named.name.value });
      }
      if (SUBSCRIPTION_URL) {
        var h = {};
        if (session) h.Authorization = 'Bearer ' + session.accessToken;
        Object.keys(headers).forEach(function (k) { h[k] = headers[k]; });
        return GraphiQL.createFetcher({
          url: ENDPOINT, subscriptionUrl: SUBSCRIPTION_URL, headers: h, wsConnectionParams: h
        })(params, opts);
      }
      return Promise.resolve({ errors: [{ message: 'Subscriptions need a WebSocket URL.' }] });
    }
    return call(params, headers);
  }

  // ---- GraphiQL --------------------------------------------------------------------------

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  // `?query=` opens GraphiQL with that query (a link can carry one).
  var initialQuery = new URLSearchParams(window.location.search).get('query') || undefined;

  // Rendered again whenever the session changes: a new fetcher makes GraphiQL fetch the
  // schema again with the new credentials. The editors keep their text.
  function renderGraphiQL() {
    var f = function (params, opts) { return fetcher(params, opts); };
    // Synchronously, so that a rerun() right after uses the new fetcher.
    ReactDOM.flushSync(function () {
      root.render(React.createElement(
        GraphiQL,
        {
          fetcher: f,
          defaultQuery: DEFAULT_QUERY,
          query: initialQuery,
          defaultEditorToolsVisibility: true
        },
        React.createElement(GraphiQL.Logo, null, 'GraphiQL')
      ));
    });
  }

  // Runs the editor's operation again (after switching tenant), if one has run before.
  function rerun() {
    var response = document.querySelector('.graphiql-response .CodeMirror');
    var shown = response && response.CodeMirror && response.CodeMirror.getValue();
    var button = document.querySelector('.graphiql-execute-button');
    if (shown && button) {
      // Let React commit the new fetcher before the click uses it.
      window.setTimeout(function () { button.click(); }, 0);
    }
  }

  // ---- the bar ---------------------------------------------------------------------------

  function showSignedOut() {
    ui.session.hidden = true;
    ui.signin.hidden = false;
    ui.tenants.textContent = '';
  }

  function option(value, label, selected) {
    var o = document.createElement('option');
    o.value = value;
    o.textContent = label;
    o.selected = !!selected;
    return o;
  }

  // Who the session is, and the tenants it can switch to.
  function showSession() {
    ui.signin.hidden = true;
    ui.session.hidden = false;
    ui.who.textContent = session.email || 'token';
    return gql('{ me { user { email } role tenant { slug name } } }').then(function (body) {
      if (!session) return;
      var me = body.data && body.data.me;
      if (me) {
        session.email = me.user.email;
        saveSession(session);
        ui.who.textContent = me.user.email + ' · ' + me.role;
      }
      var current = me ? me.tenant.slug : null;
      return gql('{ myTenants { slug name role } }').then(function (mine) {
        if (!session) return;
        ui.tenants.textContent = '';
        var list = mine.data && mine.data.myTenants;
        if (!list) {
          // An API key is bound to its tenant: there is nothing to switch to.
          ui.tenants.appendChild(option('', me ? me.tenant.name + ' (' + current + ')' : '—', true));
          ui.tenants.disabled = true;
          return;
        }
        ui.tenants.disabled = list.length < 2 && !!current;
        if (!current) ui.tenants.appendChild(option('', 'choose a tenant', true));
        list.forEach(function (t) {
          ui.tenants.appendChild(option(t.slug, t.name + ' (' + t.slug + ') · ' + t.role, t.slug === current));
        });
        if (!me) say(firstError(body) || '', true);
      });
    });
  }

  function busy(button, on) {
    button.disabled = on;
  }

  ui.signin.addEventListener('submit', function (event) {
    event.preventDefault();
    say('');
    busy(ui.signinButton, true);
    var tenant = ui.tenant.value.trim();
    post({
      query: 'mutation($email: String!, $password: String!, $tenant: String) { login(email: $email, password: $password, tenant: $tenant) { accessToken refreshToken } }',
      variables: { email: ui.email.value.trim(), password: ui.password.value, tenant: tenant || null }
    }).then(function (body) {
      busy(ui.signinButton, false);
      var pair = body.data && body.data.login;
      if (!pair) {
        say(firstError(body) || 'sign-in failed', true);
        return;
      }
      ui.password.value = '';
      saveSession({ accessToken: pair.accessToken, refreshToken: pair.refreshToken, email: ui.email.value.trim() });
      renderGraphiQL();
      return showSession();
    });
  });

  ui.useToken.addEventListener('click', function () {
    var token = ui.token.value.trim().replace(/^Bearer\s+/i, '');
    if (!token) {
      say('Paste an access token or an API key first.', true);
      return;
    }
    say('');
    ui.token.value = '';
    saveSession({ accessToken: token });
    renderGraphiQL();
    showSession();
  });

  ui.tenants.addEventListener('change', function () {
    var slug = ui.tenants.value;
    if (!slug || !session) return;
    say('');
    ui.tenants.disabled = true;
    gql('mutation($tenant: String!) { switchTenant(tenant: $tenant) { accessToken refreshToken } }', { tenant: slug })
      .then(function (body) {
        ui.tenants.disabled = false;
        var pair = body.data && body.data.switchTenant;
        if (!pair) {
          say(firstError(body) || 'switching failed', true);
          return showSession();
        }
        saveSession({ accessToken: pair.accessToken, refreshToken: pair.refreshToken, email: session.email });
        renderGraphiQL();
        rerun();
        return showSession();
      });
  });

  ui.signout.addEventListener('click', function () {
    var old = session;
    saveSession(null);
    showSignedOut();
    say('Signed out.');
    renderGraphiQL();
    if (old && old.refreshToken) {
      // Revoke the login server-side too; the page is signed out either way.
      post({ query: 'mutation($r: String!) { logout(refreshToken: $r) }', variables: { r: old.refreshToken } });
    }
  });

  renderGraphiQL();
  if (session) showSession();
  else showSignedOut();
})();
