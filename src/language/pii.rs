//! Redaction of personal data in text that leaves the engine (evidence quotes, summaries).
//!
//! ASR writes numbers both ways ("612 345 678", "seis uno dos tres cuatro…"), so numbers are read
//! as runs of digit tokens and number words: a run long enough to be a phone, a card, an IBAN or
//! a DNI/NIE is masked. Amounts ("tres mil quinientos pesos") and short references ("folio R 7428")
//! are kept: they are what evidence is about. Written and spoken e-mail addresses are masked too.

use std::borrow::Cow;

use super::normalize::fold;

/// Shortest run of digits treated as personal data: Spanish phone numbers have 9, DNI 8 + letter,
/// cards 13–19, IBANs 22+; order and reference numbers read out in calls are usually shorter.
const MIN_DIGITS: usize = 7;

/// What a masked span becomes.
pub const NUMBER_MASK: &str = "[número]";
pub const EMAIL_MASK: &str = "[email]";

/// Digits a number word stands for when read out digit by digit or in pairs.
fn digits_of(word: &str) -> Option<usize> {
    let w = fold(word);
    let w = w.trim_matches(|c: char| !c.is_alphanumeric());
    if w.is_empty() {
        return None;
    }
    if w.chars().all(|c| c.is_ascii_digit()) {
        return Some(w.len());
    }
    // Alphanumeric ids ("ES91", "12345678Z", "X1234567L").
    let digits = w.chars().filter(char::is_ascii_digit).count();
    if digits >= 2 && w.chars().all(|c| c.is_ascii_alphanumeric()) && w.len() <= 34 {
        return Some(digits);
    }
    let n = match w {
        "cero" | "uno" | "una" | "un" | "dos" | "tres" | "cuatro" | "cinco" | "seis" | "siete"
        | "ocho" | "nueve" => 1,
        "diez" | "once" | "doce" | "trece" | "catorce" | "quince" | "dieciseis" | "diecisiete"
        | "dieciocho" | "diecinueve" | "veinte" | "veintiuno" | "veintidos" | "veintitres"
        | "veinticuatro" | "veinticinco" | "veintiseis" | "veintisiete" | "veintiocho"
        | "veintinueve" | "treinta" | "cuarenta" | "cincuenta" | "sesenta" | "setenta"
        | "ochenta" | "noventa" => 2,
        "cien" | "ciento" | "doscientos" | "trescientos" | "cuatrocientos" | "quinientos"
        | "seiscientos" | "setecientos" | "ochocientos" | "novecientos" => 3,
        // "treinta y dos": the "y" joins a pair, it adds no digit but keeps the run going.
        "y" => 0,
        _ => return None,
    };
    Some(n)
}

/// Words that make a run of numbers an amount, not an identifier.
fn is_amount_word(word: &str) -> bool {
    let w = fold(word);
    let w = w.trim_matches(|c: char| !c.is_alphanumeric());
    matches!(
        w,
        "mil"
            | "millon"
            | "millones"
            | "euros"
            | "euro"
            | "pesos"
            | "peso"
            | "dolares"
            | "dolar"
            | "soles"
            | "sol"
            | "bolivares"
            | "colones"
            | "centimos"
            | "centavos"
    ) || w.starts_with('€')
        || w.starts_with('$')
}

/// Single letters spoken inside ids ("equis" for NIE, "zeta", "erre", "be"…) keep a run going.
fn is_spelled_letter(word: &str) -> bool {
    let w = fold(word);
    let w = w.trim_matches(|c: char| !c.is_alphanumeric());
    w.chars().count() == 1 && w.chars().all(char::is_alphabetic)
        || matches!(
            w,
            "equis"
                | "zeta"
                | "erre"
                | "be"
                | "ce"
                | "de"
                | "efe"
                | "ge"
                | "hache"
                | "jota"
                | "ka"
                | "ele"
                | "eme"
                | "ene"
                | "pe"
                | "cu"
                | "ese"
                | "te"
                | "uve"
                | "ye"
                | "guion"
        )
}

/// Mask personal data in `text`. Returns the input untouched (borrowed) when nothing is found.
pub fn redact(text: &str) -> Cow<'_, str> {
    // Words with their byte spans.
    let mut words: Vec<(usize, usize)> = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                words.push((s, i));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        words.push((s, text.len()));
    }
    let word = |i: usize| &text[words[i].0..words[i].1];

    let mut spans: Vec<(usize, usize, &str)> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        // E-mail, written or spoken ("ana punto gil arroba correo punto com").
        let w = word(i);
        if w.contains('@') && w.contains('.') {
            spans.push((words[i].0, words[i].1, EMAIL_MASK));
            i += 1;
            continue;
        }
        if fold(w).trim_matches(|c: char| !c.is_alphanumeric()) == "arroba" {
            let mut from = i;
            // up to three words of local part, joined by "punto"/"guion"
            for _ in 0..3 {
                if from == 0 {
                    break;
                }
                from -= 1;
                if from > 0 && matches!(fold(word(from - 1)).as_str(), "punto" | "guion") {
                    from -= 1;
                } else {
                    break;
                }
            }
            let mut to = i + 1;
            while to + 1 < words.len() && fold(word(to + 1)) == "punto" {
                to += 2;
            }
            let to = to.min(words.len() - 1);
            spans.push((words[from].0, words[to].1, EMAIL_MASK));
            i = to + 1;
            continue;
        }
        // A run of number tokens (with spelled letters and joining "y").
        if digits_of(w).is_some_and(|d| d > 0) {
            let mut j = i;
            let mut digits = 0;
            let mut amount = false;
            let mut last_numeric = i;
            while j < words.len() {
                let wj = word(j);
                if let Some(d) = digits_of(wj) {
                    digits += d;
                    if d > 0 {
                        last_numeric = j;
                    }
                } else if is_amount_word(wj) {
                    amount = true;
                } else if !is_spelled_letter(wj) {
                    break;
                }
                j += 1;
            }
            if digits >= MIN_DIGITS && !amount {
                spans.push((words[i].0, words[last_numeric].1, NUMBER_MASK));
            }
            i = last_numeric + 1;
            continue;
        }
        i += 1;
    }
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (s, e, mask) in spans {
        out.push_str(&text[at..s]);
        out.push_str(mask);
        at = e;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_identifiers_written_or_spoken() {
        assert_eq!(
            redact("mi móvil es el 612 345 678 gracias"),
            "mi móvil es el [número] gracias"
        );
        assert_eq!(
            redact("es el seis uno dos tres cuatro cinco seis siete ocho"),
            "es el [número]"
        );
        assert_eq!(
            redact("la tarjeta cuatro cinco tres dos cero cero uno uno dos dos tres tres"),
            "la tarjeta [número]"
        );
        assert_eq!(
            redact("IBAN ES91 2100 0418 4502 0005 1332"),
            "IBAN [número]"
        );
        assert_eq!(redact("dni 12345678Z"), "dni [número]");
        assert_eq!(
            redact("nie equis uno dos tres cuatro cinco seis siete ele"),
            "nie equis [número] ele"
        );
        assert_eq!(
            redact("cincuenta y cinco dos ocho cuatro uno nueve siete tres cero seis"),
            "[número]"
        );
    }

    #[test]
    fn masks_e_mails() {
        assert_eq!(
            redact("escríbame a ana.gil@correo.es por favor"),
            "escríbame a [email] por favor"
        );
        assert_eq!(
            redact("es lupita punto herrera arroba correo punto com"),
            "es [email]"
        );
    }

    #[test]
    fn keeps_amounts_short_references_and_ordinary_text() {
        for keep in [
            "me cobraron tres mil quinientos pesos",
            "ciento treinta y nueve euros del día tres",
            "el folio es erre siete cuatro dos ocho",
            "llevo dos semanas sin internet y es la tercera vez",
            "mil gracias de verdad",
        ] {
            assert_eq!(redact(keep), keep);
        }
    }
}
