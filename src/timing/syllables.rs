//! Spanish syllable estimate from text (vowel nuclei), for speech rate.

/// Estimated syllables in `text`.
pub fn count(text: &str) -> u32 {
    let _ = text;
    0
}
