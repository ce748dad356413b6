//! `test-wrong-world`: a valid component with a manifest, built for another world (it exports
//! `test:other/runner@1.0.0`, not `tessera:plugin/handler@0.1.0`). Install must refuse it.

wit_bindgen::generate!({ path: "wit", world: "other" });

struct Other;

impl exports::test::other::runner::Guest for Other {
    fn run() -> String {
        "this should never run".to_owned()
    }
}

export!(Other);

#[unsafe(link_section = "tessera-manifest")]
#[used]
static MANIFEST: [u8; include_bytes!("../plugin.toml").len()] = *include_bytes!("../plugin.toml");
