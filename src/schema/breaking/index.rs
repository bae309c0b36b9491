//! The definitions of one schema, by name, for looking up what a reported change was
//! before and is after.

use cynic_parser::type_system::{self as ast, Definition, InputValueDefinition, TypeDefinition};
use std::collections::HashMap;

/// The kind of a named type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Scalar,
    Object,
    Interface,
    Union,
    Enum,
    InputObject,
}

impl Kind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Kind::Scalar => "scalar",
            Kind::Object => "object",
            Kind::Interface => "interface",
            Kind::Union => "union",
            Kind::Enum => "enum",
            Kind::InputObject => "input object",
        }
    }
}

/// The definitions of one schema, by name, for looking changes up.
#[derive(Default)]
pub(super) struct Index<'a> {
    pub(super) kinds: HashMap<&'a str, Kind>,
    /// Fields of objects and interfaces (output positions).
    pub(super) fields: HashMap<(&'a str, &'a str), ast::Type<'a>>,
    /// Arguments of fields of objects and interfaces.
    pub(super) args: HashMap<(&'a str, &'a str, &'a str), InputValueDefinition<'a>>,
    /// Fields of input objects.
    pub(super) input_fields: HashMap<(&'a str, &'a str), InputValueDefinition<'a>>,
    pub(super) directives: HashMap<&'a str, ast::DirectiveDefinition<'a>>,
    /// The query, mutation and subscription root type names.
    pub(super) roots: [Option<&'a str>; 3],
}

impl<'a> Index<'a> {
    pub(super) fn new(doc: Option<&'a ast::TypeSystemDocument>) -> Self {
        let mut ix = Index::default();
        let Some(doc) = doc else {
            return ix;
        };
        let mut schema_roots = None;
        for definition in doc.definitions() {
            match definition {
                Definition::Schema(schema) => {
                    schema_roots = Some([
                        schema.query_type().map(|t| t.named_type()),
                        schema.mutation_type().map(|t| t.named_type()),
                        schema.subscription_type().map(|t| t.named_type()),
                    ]);
                }
                Definition::SchemaExtension(_) => {}
                Definition::Directive(directive) => {
                    ix.directives.insert(directive.name(), directive);
                }
                Definition::Type(ty) | Definition::TypeExtension(ty) => ix.add_type(ty),
            }
        }
        // Without a schema definition the roots are the types with the default names.
        ix.roots = schema_roots.unwrap_or_else(|| {
            ["Query", "Mutation", "Subscription"]
                .map(|name| (ix.kinds.get(name) == Some(&Kind::Object)).then_some(name))
        });
        ix
    }

    fn add_type(&mut self, ty: TypeDefinition<'a>) {
        let name = ty.name();
        let kind = match ty {
            TypeDefinition::Scalar(_) => Kind::Scalar,
            TypeDefinition::Object(object) => {
                for field in object.fields() {
                    self.add_field(name, field);
                }
                Kind::Object
            }
            TypeDefinition::Interface(interface) => {
                for field in interface.fields() {
                    self.add_field(name, field);
                }
                Kind::Interface
            }
            TypeDefinition::Union(_) => Kind::Union,
            TypeDefinition::Enum(_) => Kind::Enum,
            TypeDefinition::InputObject(input) => {
                for field in input.fields() {
                    self.input_fields.insert((name, field.name()), field);
                }
                Kind::InputObject
            }
        };
        self.kinds.insert(name, kind);
    }

    fn add_field(&mut self, parent: &'a str, field: ast::FieldDefinition<'a>) {
        self.fields.insert((parent, field.name()), field.ty());
        for arg in field.arguments() {
            self.args.insert((parent, field.name(), arg.name()), arg);
        }
    }
}

/// Splits a `graphql-schema-diff` path (`Type`, `Type.field`, `Type.field.arg`,
/// `Type.&Interface`, `Type.field.@directive[0]`, `@directive`) into its parts.
pub(super) fn parts(path: &str) -> (&str, Option<&str>, Option<&str>) {
    let mut it = path.splitn(3, '.');
    let first = it.next().unwrap_or_default();
    (first, it.next(), it.next())
}
