//! Converts the built-in profiles (`profiles/*.yaml`) to JSON once, at build time: a launch
//! with a built-in profile then deserializes it with serde_json, several times cheaper than
//! parsing YAML. The YAML text is still compiled in; it is what `profiles show` prints and
//! where line numbers come from.

use std::path::Path;

fn main() {
    println!("cargo::rerun-if-changed=profiles");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let dir = Path::new("profiles");
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("profiles/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).expect("a readable profile");
        let value: serde_yaml::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let json =
            serde_json::to_string(&value).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a UTF-8 name");
        std::fs::write(Path::new(&out).join(format!("{name}.json")), json)
            .expect("OUT_DIR is writable");
    }
}
