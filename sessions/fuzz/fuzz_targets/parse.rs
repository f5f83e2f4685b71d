//! Fuzz target: any bytes as a copy-session/1 document. The parser must
//! return a session or messages, never panic, overflow or hang; a session
//! it accepts must survive the canonical form (`parse(to_xml(s)) == s`,
//! stable), and its plan must be computable against roots.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match sessions::parse_bytes(data) {
        Err(e) => {
            assert!(!e.diagnostics().is_empty());
            let _ = e.to_string();
        }
        Ok(s) => {
            let xml = sessions::to_xml(&s);
            let again = sessions::parse(&xml).expect("the canonical form parses");
            assert_eq!(again, s);
            assert_eq!(sessions::to_xml(&again), xml);
            let mut roots = sessions::Roots::default();
            for h in &s.hosts {
                roots.0.insert(h.id.value.clone(), vec!["/srv/volumes".into()]);
            }
            if let Ok(r) = sessions::resolve(&s, &roots) {
                let _ = sessions::plan::plan(&r);
            }
        }
    }
});
