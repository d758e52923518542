//! The OData query-option grammar on arbitrary text: never a panic, never
//! a stack overflow, bounded work; whatever parses names only ASCII
//! identifiers as properties.
#![no_main]
use libfuzzer_sys::fuzz_target;

fn properties(e: &odata::Expr, out: &mut Vec<String>) {
    match e {
        odata::Expr::And(a, b) | odata::Expr::Or(a, b) => {
            properties(a, out);
            properties(b, out);
        }
        odata::Expr::Not(a) => properties(a, out),
        odata::Expr::Compare { property, .. }
        | odata::Expr::In { property, .. }
        | odata::Expr::StartsWith { property, .. } => out.push(property.clone()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(e) = odata::parse_filter(text) {
        let mut names = Vec::new();
        properties(&e, &mut names);
        assert!(!names.is_empty());
        for n in names {
            assert!(!n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        }
    }
    if let Ok(items) = odata::parse_orderby(text) {
        assert!(!items.is_empty() && items.len() <= 8);
    }
    if let Ok(names) = odata::parse_select(text) {
        assert!(!names.is_empty() && names.len() <= 64);
    }
});
