//! Spanish syllable estimate from text (vowel nuclei), for speech rate.
//!
//! Speech rate only needs a stable estimate, not dictionary syllabification: each run of vowels is
//! one nucleus, split where Spanish splits a vowel run (hiatus), and the silent "u" of que/qui/gue/gui
//! is not a vowel.

/// Estimated syllables in `text` (any case, with or without accents; punctuation ignored).
pub fn count(text: &str) -> u32 {
    let mut total: u32 = 0;
    let mut word: Vec<char> = Vec::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_digit() {
            // Spoken digits ("dos", "siete", "cero") average about two syllables.
            total = total.saturating_add(count_word(&word)).saturating_add(2);
            word.clear();
        } else if c.is_alphabetic() {
            word.push(c);
        } else {
            total = total.saturating_add(count_word(&word));
            word.clear();
        }
    }
    total.saturating_add(count_word(&word))
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// a e o (accented or not).
    Strong,
    /// i u ü (and vocalic y), unaccented.
    Weak,
    /// í ú: an accented weak vowel always forms its own nucleus next to a strong vowel.
    StressedWeak,
}

fn vowel_kind(c: char) -> Option<Kind> {
    match c {
        'a' | 'e' | 'o' | 'á' | 'é' | 'ó' | 'à' | 'è' | 'ò' | 'â' | 'ê' | 'ô' => {
            Some(Kind::Strong)
        }
        'i' | 'u' | 'ü' | 'ï' | 'î' | 'û' => Some(Kind::Weak),
        'í' | 'ú' | 'ì' | 'ù' => Some(Kind::StressedWeak),
        _ => None,
    }
}

/// Nuclei in one word of lowercase letters.
fn count_word(word: &[char]) -> u32 {
    let kinds: Vec<Option<Kind>> = (0..word.len())
        .map(|i| {
            let c = word[i];
            let next = word.get(i + 1).copied();
            let prev = if i > 0 { Some(word[i - 1]) } else { None };
            let next_is_vowel = next.is_some_and(|n| vowel_kind(n).is_some() || n == 'y');
            match c {
                // "muy", "hoy", "y": vocalic only when no vowel follows ("ya", "mayo": consonant).
                'y' if !next_is_vowel => Some(Kind::Weak),
                'y' => None,
                // que, qui, gue, gui: the u only marks the hard consonant.
                'u' if matches!(prev, Some('q') | Some('g'))
                    && matches!(next, Some('e' | 'i' | 'é' | 'í')) =>
                {
                    None
                }
                _ => vowel_kind(c),
            }
        })
        .collect();
    let mut nuclei: u32 = 0;
    let mut prev: Option<Kind> = None;
    for k in kinds {
        match (prev, k) {
            (_, None) => {}
            (None, Some(_)) => nuclei = nuclei.saturating_add(1),
            (Some(a), Some(b)) => {
                let hiatus = matches!(
                    (a, b),
                    (Kind::Strong, Kind::Strong)
                        | (Kind::Strong, Kind::StressedWeak)
                        | (Kind::StressedWeak, Kind::Strong)
                );
                if hiatus {
                    nuclei = nuclei.saturating_add(1);
                }
            }
        }
        prev = k;
    }
    nuclei
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn spanish_words() {
        let cases = [
            ("hola", 2),
            ("buenos", 2),
            ("días", 2),
            // Without the accent the hiatus is invisible: "dias" reads as a diphthong.
            ("dias", 1),
            ("teatro", 3),
            ("ciudad", 2),
            ("muy", 1),
            ("hoy", 1),
            ("leer", 2),
            ("cooperar", 4),
            ("maría", 3),
            ("aeropuerto", 5),
            ("quiero", 2),
            ("guerra", 2),
            ("incidencia", 4),
            ("caer", 2),
            ("baúl", 2),
            ("pingüino", 3),
            ("mayo", 2),
            ("ya", 1),
            ("y", 1),
            ("uruguay", 3),
            ("buey", 1),
            ("leía", 3),
            ("aquí", 2),
            ("seguimos", 3),
            ("agua", 2),
            ("factura", 3),
        ];
        for (w, n) in cases {
            assert_eq!(count(w), n, "{w}");
        }
    }

    #[test]
    fn sentences_digits_and_case() {
        assert_eq!(count("¡Hola, buenos días!"), 6);
        assert_eq!(count("HOLA"), 2);
        assert_eq!(count("MARÍA"), 3);
        assert_eq!(count("el 24"), 5);
        assert_eq!(count("A4"), 3);
        assert_eq!(count(""), 0);
        assert_eq!(count("... ¿? 123-4"), 8);
        assert_eq!(count("brr shh"), 0);
    }
}
