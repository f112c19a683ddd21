//! Reading JSON objects by hand. Every document (discovery, token responses, stored records, tab
//! messages) is parsed once into a `serde_json::Value` and read with these helpers, so the
//! parser is compiled once instead of once per `Deserialize` type.

use serde_json::{Map, Value};

pub type Object = Map<String, Value>;

/// Parses `text` as a JSON object; `None` for anything else.
pub fn parse_object(text: &str) -> Option<Object> {
    match serde_json::from_str(text).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// Typed reads of an object's members. A member of another type reads as absent.
pub trait Read {
    fn member(&self, name: &str) -> Option<&Value>;

    fn str(&self, name: &str) -> Option<&str> {
        self.member(name)?.as_str()
    }

    fn string(&self, name: &str) -> Option<String> {
        self.str(name).map(String::from)
    }

    fn i64(&self, name: &str) -> Option<i64> {
        self.member(name)?.as_i64()
    }

    fn f64(&self, name: &str) -> Option<f64> {
        self.member(name)?.as_f64()
    }

    fn bool(&self, name: &str) -> Option<bool> {
        self.member(name)?.as_bool()
    }

    fn object(&self, name: &str) -> Option<&Object> {
        self.member(name)?.as_object()
    }

    fn array(&self, name: &str) -> Option<&Vec<Value>> {
        self.member(name)?.as_array()
    }

    /// An array of strings; `None` when absent or when any item is not a string.
    fn strings(&self, name: &str) -> Option<Vec<String>> {
        self.array(name)?
            .iter()
            .map(|v| v.as_str().map(String::from))
            .collect()
    }
}

impl Read for Object {
    fn member(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

impl Read for Value {
    fn member(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

/// An object from name/value pairs, leaving out `None`s.
pub fn object<const N: usize>(members: [(&str, Option<Value>); N]) -> Value {
    let mut map = Object::new();
    for (name, value) in members {
        if let Some(value) = value {
            map.insert(name.to_string(), value);
        }
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_reads_treat_a_wrong_type_as_absent() {
        let o = parse_object(r#"{"a":"x","n":5,"b":true,"l":["p","q"],"m":[1]}"#).unwrap();
        assert_eq!(o.str("a"), Some("x"));
        assert_eq!(o.str("n"), None);
        assert_eq!(o.i64("n"), Some(5));
        assert_eq!(o.bool("b"), Some(true));
        assert_eq!(o.strings("l"), Some(vec!["p".into(), "q".into()]));
        assert_eq!(o.strings("m"), None);
        assert!(parse_object("[1]").is_none());
        assert!(parse_object("{").is_none());
    }

    #[test]
    fn object_leaves_out_absent_members() {
        let v = object([("a", Some(json!(1))), ("b", None)]);
        assert_eq!(v, json!({"a": 1}));
    }
}
