//! TypeScript generation against a committed golden file, and type-checked by `tsc`
//! when it is installed.
//!
//! After an intended change of the output, regenerate the golden file with
//! `UPDATE_GOLDEN=1 cargo test --test it typegen`.

use std::path::{Path, PathBuf};
use std::process::Command;

use bandit_engine::codegen::typescript;
use bandit_engine::config::ProjectConfig;

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/golden")
        .join(name)
}

fn generated() -> String {
    typescript(&ProjectConfig::from_path(golden("config.yaml")).unwrap())
}

#[test]
fn generated_types_match_the_golden_file() {
    let got = generated();
    let path = golden("events.ts");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        got, want,
        "regenerate with UPDATE_GOLDEN=1 if the change is intended"
    );
}

#[test]
fn generated_types_do_not_depend_on_anything_but_the_config() {
    assert_eq!(generated(), generated());
}

/// A use of the types: correct calls compile, each `@ts-expect-error` line must fail.
const USAGE: &str = r#"
import type { TrafficalEventProperties, TypedTrack } from "./events";
declare const track: TypedTrack;
track("checkout_completed", {
  unitKey: "u",
  properties: {
    order_id: "0b9f0f3e-3c1a-4d8e-9d7b-2f4c1c2b9a10",
    total: 49.99,
    payment_method: "paypal",
    market: "EU",
    items: [{ sku: "A-1", quantity: 2 }],
    shipping: { method: "express", days: 2 },
    metadata: { source: "email", campaign: "spring" },
    "coupon-code": "SPRING",
  },
});
track("app_opened", { unitKey: "u", properties: {} });
track("add-to-cart", { unitKey: "u", properties: { quantity: 1 } });
// @ts-expect-error: an enum value that is not listed
const badEnum: TrafficalEventProperties["checkout_completed"]["payment_method"] = "cash";
// @ts-expect-error: a required property is missing
const missing: TrafficalEventProperties["add-to-cart"] = {};
// @ts-expect-error: a closed nested object refuses unknown keys
const closed: TrafficalEventProperties["checkout_completed"]["shipping"] = { method: "standard", speed: 1 };
// @ts-expect-error: an unknown event name
track("typo_event", { unitKey: "u", properties: {} });
export { badEnum, missing, closed };
"#;

#[test]
fn generated_types_type_check_with_tsc_when_installed() {
    let Some(tsc) = which("tsc") else {
        println!("note: tsc is not on PATH; skipping the TypeScript type check (npm install -g typescript to run it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("events.ts"), generated()).unwrap();
    std::fs::write(dir.path().join("usage.ts"), USAGE).unwrap();
    let out = Command::new(tsc)
        .args([
            "--noEmit", "--strict", "--target", "es2020", "--module", "es2020",
        ])
        .arg(dir.path().join("events.ts"))
        .arg(dir.path().join("usage.ts"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tsc failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
