//! The one builder of Node-shaped error objects, and reading a message back out of one.
//!
//! Node callers read `err.stack`; pomelo itself sends only `stack`, we add `msg` so the text
//! survives without string surgery, plus any extra own properties (a `code`; pinus spreads them).

use serde_json::{Map, Value};

/// An error as it leaves for a Node peer: `{…fields, "msg": message, "stack": "Error: …"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeError {
    /// Human-readable message (`err.msg`, first line of `err.stack`).
    pub message: String,
    /// Extra own properties, e.g. a `code`.
    pub fields: Map<String, Value>,
}

impl NodeError {
    /// An error with a message and no extra fields.
    pub fn new(message: impl Into<String>) -> Self {
        NodeError { message: message.into(), fields: Map::new() }
    }

    /// The JSON object; `at` names the frame of the synthetic stack (`service.method`).
    pub fn to_json(&self, at: &str) -> Value {
        let mut obj = self.fields.clone();
        obj.insert("msg".into(), Value::String(self.message.clone()));
        obj.insert(
            "stack".into(),
            Value::String(format!("Error: {}\n    at {at} (pomelo-interop)", self.message)),
        );
        Value::Object(obj)
    }
}

/// Extracts the message of a Node error object: `msg`, else `message`, else the stack's first
/// line without `Error: `, else the whole value as JSON.
pub fn error_message(err: &Value) -> String {
    if let Some(m) = err.get("msg").and_then(Value::as_str) {
        return m.to_string();
    }
    if let Some(m) = err.get("message").and_then(Value::as_str) {
        return m.to_string();
    }
    if let Some(stack) = err.get("stack").and_then(Value::as_str) {
        let first = stack.lines().next().unwrap_or("");
        return first.strip_prefix("Error: ").unwrap_or(first).to_string();
    }
    crate::wire::json::to_string(err)
}
