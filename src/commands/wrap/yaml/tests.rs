//! The YAML editor's tests.

mod unit {
    use super::super::*;

    fn round_trip(text: &str, expect_wrapped: &str) {
        crate::commands::wrap::round_trip(
            crate::commands::wrap::Format::Yaml,
            "node",
            text,
            expect_wrapped,
        );
    }

    #[test]
    fn continue_list_block_args() {
        round_trip(
            "name: my\nversion: 0.0.1\nschema: v1\nmcpServers:\n  - name: fs # files\n    command: npx\n    args:\n      - -y\n      - \"@modelcontextprotocol/server-filesystem\"\n    env:\n      K: v\n",
            "name: my\nversion: 0.0.1\nschema: v1\nmcpServers:\n  - name: fs # files\n    command: \"/bin/mcpcell\"\n    args:\n      - \"run\"\n      - \"-p\"\n      - \"node\"\n      - \"--pass-env\"\n      - \"K\"\n      - \"--\"\n      - npx\n      - -y\n      - \"@modelcontextprotocol/server-filesystem\"\n    env:\n      K: v\n",
        );
        let (_, s) = read("mcpServers:\n  - name: fs\n    command: npx\n").unwrap();
        assert_eq!(s[0].name, "fs");
    }

    #[test]
    fn goose_extensions_flow_args_and_builtins() {
        let text = "extensions:\n  developer:\n    enabled: true\n    type: builtin\n    name: developer\n  github:\n    args: ['-y', '@modelcontextprotocol/server-github']\n    cmd: npx\n    enabled: true\n    envs: {}\n    type: stdio\n";
        let (_, s) = read(text).unwrap();
        assert!(matches!(s[0].kind, Kind::Remote(_)), "{s:?}");
        // Goose chooses by `type`: an inline_python extension is a process it starts (uvx,
        // python), and a `cmd` beside `type: builtin` is never run.
        let (_, s) = read("extensions:\n  p:\n    type: inline_python\n    code: print(1)\n  b:\n    type: builtin\n    cmd: /bin/sh\n").unwrap();
        assert!(
            matches!(&s[0].kind, Kind::Unsupported(w) if w.contains("inline_python")),
            "{s:?}"
        );
        assert!(matches!(s[1].kind, Kind::Remote(_)), "{s:?}");
        round_trip(
            text,
            "extensions:\n  developer:\n    enabled: true\n    type: builtin\n    name: developer\n  github:\n    args: [\"run\", \"-p\", \"node\", \"--pass-env\", \"K\", \"--\", npx, '-y', '@modelcontextprotocol/server-github']\n    cmd: \"/bin/mcpcell\"\n    enabled: true\n    envs: {}\n    type: stdio\n",
        );
    }

    #[test]
    fn fast_agent_missing_and_empty_args() {
        round_trip(
            "mcp:\n  servers:\n    time:\n      command: 'uvx' # runner\n      transport: stdio\n    e:\n      command: srv\n      args: []\n",
            "mcp:\n  servers:\n    time:\n      command: \"/bin/mcpcell\" # runner\n      args: [\"run\", \"--profile\", \"node\", \"--pass-env\", \"K\", \"--\", 'uvx']\n      transport: stdio\n    e:\n      command: \"/bin/mcpcell\"\n      args: [\"run\", \"-p\", \"node\", \"--pass-env\", \"K\", \"--\", srv]\n",
        );
        round_trip(
            "mcpServers: {a: {command: srv}}",
            "mcpServers: {a: {command: \"/bin/mcpcell\", args: [\"run\", \"--profile\", \"node\", \"--pass-env\", \"K\", \"--\", srv]}}",
        );
    }

    #[test]
    fn what_cannot_be_edited_exactly_is_said() {
        for (text, needle) in [
            ("mcpServers:\n  a:\n    command: >\n      npx\n", "one-line"),
            (
                "c: &common [x]\nmcpServers:\n  a:\n    command: npx\n    args: *common\n",
                "plain list",
            ),
            (
                "b: &base {command: x}\nmcpServers:\n  a:\n    <<: *base\n",
                "merge key",
            ),
            ("mcpServers:\n  a: &a\n    command: x\n", "anchor"),
            ("mcpServers:\n  a:\n    command: &c x\n", "one-line"),
            ("mcpServers:\n  a:\n    command: !!str npx\n", "one-line"),
            ("mcpServers:\n  a:\n    command: [npx]\n", "one-line"),
            (
                "mcpServers:\n  a:\n    cmd: x\n    command: y\n",
                "both `cmd` and `command`",
            ),
        ] {
            let (_, s) = read(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            match &s[0].kind {
                Kind::Unsupported(why) => assert!(why.contains(needle), "{text}: {why}"),
                k => panic!("{text}: {k:?}"),
            }
        }
        // A NUL ends yaml-rust2's input where a client's parser would read on: refused, with
        // where it is.
        match read("mcpServers:\n  a:\n    command: npx\u{10}\0s\n  b:\n    command: y\n") {
            Err(FormatError::Syntax {
                line: 3,
                column: 17,
                message,
            }) => {
                assert!(message.contains("U+0010"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            read("a: [").unwrap_err(),
            FormatError::Syntax { .. }
        ));
        assert!(read("- 1\n").is_err());
    }

    #[test]
    fn commas_brackets_and_byte_order_marks() {
        round_trip(
            "\u{feff}mcpServers:\n  a:\n    command: a,b\n    args:\n      - x,y\n",
            "\u{feff}mcpServers:\n  a:\n    command: \"/bin/mcpcell\"\n    args:\n      - \"run\"\n      - \"-p\"\n      - \"node\"\n      - \"--pass-env\"\n      - \"K\"\n      - \"--\"\n      - a,b\n      - x,y\n",
        );
        let (_, s) = read("mcpServers:\n  a:\n    command: a,b\n    args: [x]\n").unwrap();
        match &s[0].kind {
            Kind::Unsupported(why) => assert!(why.contains("put it in quotes"), "{why}"),
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn multibyte_text_before_the_entry() {
        round_trip(
            "# größe ✓\nmcpServers:\n  - name: \"ü\"\n    command: \"nöde\"\n    args: [\"x\"]\n",
            "# größe ✓\nmcpServers:\n  - name: \"ü\"\n    command: \"/bin/mcpcell\"\n    args: [\"run\", \"-p\", \"node\", \"--pass-env\", \"K\", \"--\", \"nöde\", \"x\"]\n",
        );
    }

    /// What a YAML 1.1 parser (PyYAML, libyaml under serde_yaml) and mcpcell's 1.2 parser read
    /// differently is refused whole: a key given twice anywhere (the last counts for PyYAML),
    /// and NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR, which end a comment for 1.1 only.
    #[test]
    fn what_parsers_read_differently_is_refused() {
        for text in [
            "mcpServers:\n  a:\n    command: x\n    command: y\n",
            "mcp:\n  servers:\n    f: {command: uvx}\n  servers:\n    f: {command: /bin/sh}\n",
            "mcpServers:\n  a: {command: x}\n  a: {command: y}\n",
            "mcpServers:\n  a:\n    command: x\n    env: {K: 1, K: 2}\n",
        ] {
            let err = read(text).unwrap_err().to_string();
            assert!(err.contains("appears twice"), "{text}: {err}");
        }
        for c in ['\u{85}', '\u{2028}', '\u{2029}'] {
            let text = format!(
                "# note{c}mcp: {{servers: {{f: {{command: /bin/sh}}}}}}\nmcp:\n  servers:\n    f: {{command: uvx}}\n"
            );
            let err = read(&text).unwrap_err().to_string();
            assert!(err.contains(&format!("U+{:04X}", c as u32)), "{err}");
        }
    }
}

mod mutations {
    /// A small deterministic fuzzer beside the real one (`fuzz/`): the golden YAML configs with
    /// bytes inserted, deleted and swapped must wrap and unwrap back to themselves, or be
    /// refused; never panic or come back changed.
    #[test]
    fn mutated_configs_round_trip_or_are_refused() {
        let seeds = [
            include_str!("../../../../tests/golden/wrap/continue/config.yaml"),
            include_str!("../../../../tests/golden/wrap/goose/config.yaml"),
            include_str!("../../../../tests/golden/wrap/fast-agent/fastagent.config.yaml"),
            "mcpServers: {a: {command: srv}, b: {command: 'x y', args: [\"1\", '2']}}\n",
        ];
        let pieces = [
            " ",
            "\n",
            "\t",
            "#",
            "-",
            ":",
            ",",
            "[",
            "]",
            "{",
            "}",
            "'",
            "\"",
            "&a ",
            "*a",
            "|",
            ">",
            "!!str ",
            "\r\n",
            "ü",
            "args: []",
            "\n  args:\n  - x",
            "command: c",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for seed in seeds {
            for _ in 0..250 {
                let mut text = seed.to_string();
                for _ in 0..1 + next(3) {
                    let mut at = next(text.len() + 1);
                    while !text.is_char_boundary(at) {
                        at -= 1;
                    }
                    match next(3) {
                        0 => text.insert_str(at, pieces[next(pieces.len())]),
                        1 => {
                            let mut end = (at + 1 + next(4)).min(text.len());
                            while !text.is_char_boundary(end) {
                                end += 1;
                            }
                            text.replace_range(at..end, "");
                        }
                        _ => {
                            let p = pieces[next(pieces.len())];
                            let mut end = (at + p.len()).min(text.len());
                            while !text.is_char_boundary(end) {
                                end += 1;
                            }
                            text.replace_range(at..end, p);
                        }
                    }
                }
                crate::commands::wrap::check_round_trip(&text, 2);
            }
        }
    }
}
