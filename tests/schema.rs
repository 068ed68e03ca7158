//! The JSON Schema editors use (`mcpcell schema`, shipped as profiles/schema.json) and the
//! parser agree.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

fn shipped() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/schema.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn the_shipped_schema_is_what_mcpcell_prints() {
    let out = Command::new(common::mcpcell())
        .arg("schema")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        printed,
        shipped(),
        "profiles/schema.json is stale: run `mcpcell schema > profiles/schema.json`"
    );
}

#[test]
fn every_builtin_profile_validates_against_the_schema() {
    let validator = jsonschema::validator_for(&shipped()).unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=./schema.json\n"),
            "{} lacks the schema comment",
            p.display()
        );
        let doc: Value = serde_yaml::from_str(&text).unwrap();
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", p.display());
        n += 1;
    }
    assert!(n > 10);
}

/// A value of the right shape for a schema node (not a meaningful one).
fn example(schema: &Value, defs: &Value) -> Value {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/$defs/");
        return example(&defs[name], defs);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = schema.get(key).and_then(Value::as_array) {
            let first = alts
                .iter()
                .find(|a| a.get("type") != Some(&json!("null")))
                .unwrap();
            return example(first, defs);
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        return e[0].clone();
    }
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    let ty = match schema.get("type") {
        Some(Value::Array(ts)) => ts.iter().find(|t| *t != "null").cloned().unwrap(),
        Some(t) => t.clone(),
        None => json!("string"),
    };
    match ty.as_str().unwrap() {
        "object" => {
            let mut o = serde_json::Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    o.insert(k.clone(), example(v, defs));
                }
            } else if let Some(ap) = schema.get("additionalProperties").filter(|v| v.is_object()) {
                o.insert("KEY".into(), example(ap, defs));
            }
            Value::Object(o)
        }
        "array" => json!([example(&schema["items"], defs)]),
        "integer" | "number" => json!(1),
        "boolean" => json!(true),
        _ => json!("x"),
    }
}

#[test]
fn every_schema_property_is_accepted_by_the_parser() {
    let schema = shipped();
    let doc = example(&schema, &schema["$defs"]);
    // Every top-level and nested property is present.
    assert!(
        doc["filesystem"]["hide"].is_array() && doc["network"]["hosts"].is_object(),
        "{doc}"
    );
    let yaml = serde_yaml::to_string(&doc).unwrap();
    let parsed: Result<mcpcell::profile::RawProfile, _> = serde_yaml::from_str(&yaml);
    assert!(parsed.is_ok(), "{yaml}\n{:?}", parsed.err());
    // And the parser refuses what the schema forbids: an unknown key at every level.
    for section in [
        "",
        "filesystem",
        "network",
        "syscalls",
        "env",
        "capabilities",
        "limits",
    ] {
        let mut bad = doc.clone();
        let target = if section.is_empty() {
            &mut bad
        } else {
            &mut bad[section]
        };
        target
            .as_object_mut()
            .unwrap()
            .insert("unknown_key".into(), json!(1));
        let r: Result<mcpcell::profile::RawProfile, _> =
            serde_yaml::from_str(&serde_yaml::to_string(&bad).unwrap());
        assert!(r.is_err(), "{section}: an unknown key was accepted");
    }
}
