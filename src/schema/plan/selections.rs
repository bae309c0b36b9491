//! How each root field and each planned type's selection compiles: the per-type halves of
//! [`Compiler`] (the generic half, flattening selections and connections, is `compile.rs`).

use super::compile::Compiler;
use super::{
    AuditSel, Compiled, ContactNested, ContactSel, ConversationNested, ConversationSel, Decline,
    HealthNested, Leaf, MeNested, MeSel, MessageNested, MessageSel, NodeKind, Root, SearchSel, Sel,
    TenantNested, TenantSel, UsageNested, UsageSel,
};
use crate::graphql::plannable::Planned;
use async_graphql::parser::types::{Field, SelectionSet};
use async_graphql_value::Value;

impl NodeKind for ContactSel {
    const CONNECTION: &'static str = "ContactConnection";
    const EDGE: &'static str = "ContactEdge";
    const COUNTED: bool = true;

    fn compile<'d>(c: &mut Compiler<'d>, set: &'d SelectionSet) -> Compiled<Self> {
        c.node(set, |c, f| {
            Ok(match f.name.node.as_str() {
                "conversations" => Some(ContactNested::Conversations(Box::new(
                    c.connection(f, &[])?.0,
                ))),
                _ => None,
            })
        })
    }
}

impl NodeKind for ConversationSel {
    const CONNECTION: &'static str = "ConversationConnection";
    const EDGE: &'static str = "ConversationEdge";
    const COUNTED: bool = true;

    fn compile<'d>(c: &mut Compiler<'d>, set: &'d SelectionSet) -> Compiled<Self> {
        c.node(set, |c, f| {
            Ok(match f.name.node.as_str() {
                "messages" => Some(ConversationNested::Messages(Box::new(
                    c.connection(f, &[])?.0,
                ))),
                "contact" if f.arguments.is_empty() => {
                    let contact = ContactSel::compile(c, &f.selection_set.node)?;
                    if contact.nested().next().is_some() {
                        return Err(Decline("selection"));
                    }
                    Some(ConversationNested::Contact(contact))
                }
                "assignee" if f.arguments.is_empty() => {
                    c.later.users = true;
                    Some(ConversationNested::Assignee(plain(
                        c,
                        &f.selection_set.node,
                    )?))
                }
                _ => None,
            })
        })
    }
}

impl NodeKind for MessageSel {
    const CONNECTION: &'static str = "MessageConnection";
    const EDGE: &'static str = "MessageEdge";
    const COUNTED: bool = false;

    fn compile<'d>(c: &mut Compiler<'d>, set: &'d SelectionSet) -> Compiled<Self> {
        c.node(set, |c, f| {
            if !f.arguments.is_empty() {
                return Ok(None);
            }
            let set = &f.selection_set.node;
            Ok(match f.name.node.as_str() {
                "author" => {
                    c.later.users = true;
                    Some(MessageNested::Author(plain(c, set)?))
                }
                "conversation" => {
                    c.later.message_conversations = true;
                    Some(MessageNested::Conversation(
                        ConversationSel::compile(c, set)?.users_only()?,
                    ))
                }
                _ => None,
            })
        })
    }
}

impl NodeKind for SearchSel {
    const CONNECTION: &'static str = "MessageSearchConnection";
    const EDGE: &'static str = "MessageSearchEdge";
    const COUNTED: bool = false;

    fn compile<'d>(c: &mut Compiler<'d>, set: &'d SelectionSet) -> Compiled<Self> {
        MessageSel::compile(c, set).map(SearchSel)
    }
}

impl NodeKind for AuditSel {
    const CONNECTION: &'static str = "AuditEntryConnection";
    const EDGE: &'static str = "AuditEntryEdge";
    const COUNTED: bool = false;

    fn compile<'d>(c: &mut Compiler<'d>, set: &'d SelectionSet) -> Compiled<Self> {
        plain(c, set).map(AuditSel)
    }
}

impl ConversationSel {
    /// This selection, if its only nested fields are users (`assignee`): what plans serve
    /// of a conversation loaded by id after the other levels (a message's).
    fn users_only(self) -> Compiled<Self> {
        if self
            .nested()
            .any(|n| !matches!(n, ConversationNested::Assignee(_)))
        {
            return Err(Decline("selection"));
        }
        Ok(self)
    }
}

/// The arguments `names` of a field that has exactly those, each once (in any order).
fn exactly<const N: usize>(field: &Field, names: [&str; N]) -> Compiled<[Value; N]> {
    if field.arguments.len() != N {
        return Err(Decline("arguments"));
    }
    let mut values = names.map(|_| None);
    for (name, value) in &field.arguments {
        let slot = names.iter().position(|n| *n == name.node.as_str());
        match slot.map(|i| &mut values[i]) {
            Some(free @ None) => *free = Some(value.node.clone()),
            _ => return Err(Decline("arguments")),
        }
    }
    Ok(values.map(|v| v.unwrap_or(Value::Null)))
}

/// The `id` argument of a field that has no other.
fn only_id(field: &Field) -> Compiled<Value> {
    exactly(field, ["id"]).map(|[id]| id)
}

/// A selection of a type whose fields plans serve are all scalars.
fn plain<'d, R: Planned>(c: &mut Compiler<'d>, set: &'d SelectionSet) -> Compiled<Sel<R, Leaf>> {
    c.node(set, |_, _| Ok(None))
}

impl TenantSel {
    fn compile<'d>(c: &mut Compiler<'d>, set: &'d SelectionSet) -> Compiled<Self> {
        c.node(set, |c, f| {
            Ok(match f.name.node.as_str() {
                "features" if f.arguments.is_empty() => {
                    Some(TenantNested::Features(plain(c, &f.selection_set.node)?))
                }
                "settings" if f.arguments.is_empty() => {
                    Some(TenantNested::Settings(plain(c, &f.selection_set.node)?))
                }
                "quotas" if f.arguments.is_empty() => {
                    Some(TenantNested::Quotas(plain(c, &f.selection_set.node)?))
                }
                "memberCount"
                    if f.arguments.is_empty() && f.selection_set.node.items.is_empty() =>
                {
                    Some(TenantNested::MemberCount)
                }
                _ => None,
            })
        })
    }
}

impl UsageSel {
    fn compile<'d>(c: &mut Compiler<'d>, set: &'d SelectionSet) -> Compiled<Self> {
        c.node(set, |c, f| {
            Ok(match f.name.node.as_str() {
                "days" if f.arguments.is_empty() => {
                    Some(UsageNested::Days(plain(c, &f.selection_set.node)?))
                }
                "total" if f.arguments.is_empty() => {
                    Some(UsageNested::Total(plain(c, &f.selection_set.node)?))
                }
                _ => None,
            })
        })
    }
}

impl MeSel {
    fn compile<'d>(c: &mut Compiler<'d>, set: &'d SelectionSet) -> Compiled<Self> {
        c.node(set, |c, f| {
            if !f.arguments.is_empty() {
                return Ok(None);
            }
            let set = &f.selection_set.node;
            Ok(match f.name.node.as_str() {
                "user" => Some(MeNested::User(plain(c, set)?)),
                "tenant" => Some(MeNested::Tenant(TenantSel::compile(c, set)?)),
                _ => None,
            })
        })
    }
}

impl<'d> Compiler<'d> {
    /// A root field plans serve.
    pub(super) fn root(&mut self, field: &'d Field) -> Compiled<Root> {
        let is_leaf = field.arguments.is_empty() && field.selection_set.node.items.is_empty();
        Ok(match field.name.node.as_str() {
            "__typename" if is_leaf => Root::Typename,
            "contacts" => {
                let (conn, filter) = self.connection::<ContactSel>(field, &["filter"])?;
                Root::Contacts {
                    filter: filter.into_iter().next().flatten(),
                    conn: Box::new(conn),
                }
            }
            "conversations" => {
                let (conn, filter) = self.connection::<ConversationSel>(field, &["filter"])?;
                Root::Conversations {
                    filter: filter.into_iter().next().flatten(),
                    conn: Box::new(conn),
                }
            }
            "contact" => Root::Contact {
                id: only_id(field)?,
                sel: Box::new(ContactSel::compile(self, &field.selection_set.node)?),
            },
            "conversation" => Root::Conversation {
                id: only_id(field)?,
                sel: Box::new(ConversationSel::compile(self, &field.selection_set.node)?),
            },
            "node" => {
                let id = only_id(field)?;
                let set = &field.selection_set.node;
                // Each type's selection in full (a contact's conversations, a conversation's
                // messages and contact), loaded by the levels as `contact(id:)` and
                // `conversation(id:)` are; its slots numbered contact, conversation, message.
                let contact = self.concrete(|c| ContactSel::compile(c, set));
                let conversation = self.concrete(|c| ConversationSel::compile(c, set));
                let message = self.concrete(|c| MessageSel::compile(c, set));
                if contact.is_none() && conversation.is_none() && message.is_none() {
                    return Err(Decline("selection"));
                }
                Root::Node {
                    id,
                    contact,
                    conversation,
                    message,
                }
            }
            "me" if field.arguments.is_empty() => {
                Root::Me(Box::new(MeSel::compile(self, &field.selection_set.node)?))
            }
            "tenant" if field.arguments.is_empty() => Root::Tenant(Box::new(TenantSel::compile(
                self,
                &field.selection_set.node,
            )?)),
            "members" if field.arguments.is_empty() => {
                Root::Members(Box::new(plain(self, &field.selection_set.node)?))
            }
            "tenantSettings" if field.arguments.is_empty() => {
                Root::TenantSettings(Box::new(plain(self, &field.selection_set.node)?))
            }
            "myTenants" if field.arguments.is_empty() => {
                Root::MyTenants(Box::new(plain(self, &field.selection_set.node)?))
            }
            "searchMessages" => {
                let (conn, query) = self.connection::<SearchSel>(field, &["query"])?;
                Root::Search {
                    query: query
                        .into_iter()
                        .next()
                        .flatten()
                        .ok_or(Decline("arguments"))?,
                    conn: Box::new(conn),
                }
            }
            "myInvitations" if field.arguments.is_empty() => {
                Root::MyInvitations(Box::new(plain(self, &field.selection_set.node)?))
            }
            "tenantStats" if field.arguments.is_empty() => {
                Root::TenantStats(Box::new(plain(self, &field.selection_set.node)?))
            }
            "invitations" if field.arguments.is_empty() => {
                Root::Invitations(Box::new(plain(self, &field.selection_set.node)?))
            }
            "apiKeys" if field.arguments.is_empty() => {
                Root::ApiKeys(Box::new(plain(self, &field.selection_set.node)?))
            }
            "customRoles" if field.arguments.is_empty() => {
                Root::CustomRoles(Box::new(plain(self, &field.selection_set.node)?))
            }
            "tenantUsage" => {
                let [from, to] = exactly(field, ["from", "to"])?;
                Root::TenantUsage {
                    from,
                    to,
                    sel: Box::new(UsageSel::compile(self, &field.selection_set.node)?),
                }
            }
            "tenantHealth" if field.arguments.is_empty() => {
                let set = &field.selection_set.node;
                Root::TenantHealth(Box::new(self.node(set, |c, f| {
                    let set = &f.selection_set.node;
                    Ok(match f.name.node.as_str() {
                        "checks" => Some(HealthNested::Checks(plain(c, set)?)),
                        "metrics" => Some(HealthNested::Metrics(plain(c, set)?)),
                        "quotaUse" => Some(HealthNested::QuotaUse(plain(c, set)?)),
                        _ => None,
                    })
                })?))
            }
            "exportJob" => Root::ExportJob {
                id: only_id(field)?,
                sel: Box::new(plain(self, &field.selection_set.node)?),
            },
            "auditLog" => {
                let (conn, filter) = self.connection::<AuditSel>(field, &["filter"])?;
                Root::AuditLog {
                    filter: filter.into_iter().next().flatten(),
                    conn: Box::new(conn),
                }
            }
            _ => return Err(Decline("unplanned_field")),
        })
    }
}
