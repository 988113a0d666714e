//! Lexicons are data: a phrase added to a TSV under `--lexicons DIR` changes what the compiled
//! binary does, without recompiling; a broken file stops start-up with its file and line.

use std::path::PathBuf;
use std::process::Command;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("calma-lex-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const CALL: &str = r#"{"type":"call.start","call_id":"c-1","agent_id":"a-1","language":"es"}
{"type":"segment","call_id":"c-1","segment_id":"s1","speaker":"customer","text":"buenas mire me tienen frito con la factura de este mes","start_ms":1000,"end_ms":5000,"final":true}
{"type":"call.end","call_id":"c-1"}
"#;

fn replay(args: &[&str], input: &str) -> (bool, String, String) {
    let dir = temp_dir("input");
    let file = dir.join("call.jsonl");
    std::fs::write(&file, input).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_calma"))
        .arg("replay")
        .arg(&file)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn peak(stdout: &str) -> f64 {
    stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["type"] == "call.summary")
        .unwrap()["frustration_peak"]["score"]
        .as_f64()
        .unwrap()
}

#[test]
fn a_phrase_added_under_lexicons_changes_behaviour_without_recompiling() {
    let (ok, before, _) = replay(&[], CALL);
    assert!(ok);
    assert_eq!(
        peak(&before),
        0.0,
        "the embedded lexicons do not know this phrase"
    );

    let dir = temp_dir("override");
    let embedded = include_str!("../lexicons/es/frustration.tsv");
    let added = format!(
        "{embedded}me tienen frito\t0.5\tanger\tes-ES\tauthored\tadded by a supervisor for this campaign\n"
    );
    std::fs::write(dir.join("frustration.tsv"), added).unwrap();
    let (ok, after, err) = replay(&["--lexicons", dir.to_str().unwrap()], CALL);
    assert!(ok, "{err}");
    assert!(peak(&after) >= 0.45, "{after}");
    assert!(
        after.contains("frustration/anger:me tienen frito"),
        "{after}"
    );
}

#[test]
fn a_broken_lexicon_stops_with_file_and_line() {
    let dir = temp_dir("broken");
    std::fs::write(
        dir.join("calm.tsv"),
        "# test\nterm\tweight\tcategory\tvariant\tsource\tnote\ngracias\tmuchas\tthanks\tall\tauthored\t\n",
    )
    .unwrap();
    let (ok, _, err) = replay(&["--lexicons", dir.to_str().unwrap()], CALL);
    assert!(!ok);
    assert!(err.contains("calm.tsv, line 3"), "{err}");
    assert!(err.contains("not a number"), "{err}");

    let dir = temp_dir("unknown");
    std::fs::write(
        dir.join("frustation.tsv"),
        "term\tweight\tcategory\tvariant\tsource\n",
    )
    .unwrap();
    let (ok, _, err) = replay(&["--lexicons", dir.to_str().unwrap()], CALL);
    assert!(!ok);
    assert!(err.contains("unknown lexicon file"), "{err}");
}
