//! Explicit inflection classes for customer lexicon words: each word of an entry names the forms it
//! takes, and matching is on whole folded words. This replaces Snowball stem prefixes, which merged
//! unrelated words ("cabreado" and "cabra" share the stem `cabr`, "imbécil" and "imbecilidad"
//! `imbecil`, an insult and its -mente adverb).
//!
//! Term syntax, word by word (README "How to add a lexicon entry safely"):
//! - `harto`: a noun or adjective, inflected by its ending: -o → o/a/os/as, -a → a/as, -e → e/es,
//!   -ón/-or → +a/+es/+as (-ión → +es), -z → -ces, other consonants → +es. Words of three letters or fewer,
//!   words ending in -s or -y, infinitives (-ar/-er/-ir) and words ending in an accented vowel
//!   (verb forms: "denunciaré", "colgó") are taken as written.
//! - `dicho=`: exactly as written (folded), nothing else.
//! - `llamar:v`: a verb lemma, every simple tense, voseo, imperatives and participle, with the
//!   orthographic changes of regular verbs (c→qu, g→gu, z→c, g→j, c→z), the stem changes and
//!   irregular forms of [`IRREGULAR`], and enclitic pronouns on infinitive, gerund and imperative
//!   ("llamarme", "escúcheme").

use super::normalize::fold;

/// How one word of a lexicon term inflects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inflection {
    /// Only the folded word itself.
    Exact,
    /// Gender and number, inferred from the ending.
    Nominal,
    /// A verb lemma: its conjugation.
    Verb,
}

/// One word of a lexicon term: folded text and its inflection class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermWord {
    pub text: String,
    pub class: Inflection,
}

/// Read one whitespace-separated word of a term, with its class marker.
pub fn parse_word(raw: &str) -> Result<TermWord, String> {
    if let Some(w) = raw.strip_suffix(":v") {
        let text = fold(w);
        if !(text.ends_with("ar") || text.ends_with("er") || text.ends_with("ir")) {
            return Err(format!(
                "`{raw}`: a verb lemma (`:v`) ends in -ar, -er or -ir"
            ));
        }
        return Ok(TermWord {
            text,
            class: Inflection::Verb,
        });
    }
    if let Some(w) = raw.strip_suffix('=') {
        return Ok(TermWord {
            text: fold(w),
            class: Inflection::Exact,
        });
    }
    if raw.contains([':', '=']) {
        return Err(format!(
            "`{raw}`: markers are a trailing `=` (exact) or `:v` (verb lemma)"
        ));
    }
    let text = fold(raw);
    // Infinitives and accented verb endings ("denunciaré", "colgó") are verb forms, not nouns:
    // as written, unless given as a `:v` lemma.
    let verb_like = text.ends_with("ar")
        || text.ends_with("er")
        || text.ends_with("ir")
        || raw.ends_with(['á', 'é', 'í', 'ó', 'ú']);
    let class =
        if verb_like || text.chars().count() <= 3 || text.ends_with('s') || text.ends_with('y') {
            Inflection::Exact
        } else {
            Inflection::Nominal
        };
    Ok(TermWord { text, class })
}

/// Every folded form the word takes (the word itself first).
pub fn forms(w: &TermWord) -> Vec<String> {
    forms_with(w, true)
}

/// Like [`forms`]; inside a phrase a verb takes no enclitic pronouns (the phrase's own words
/// carry them: "me tener:v harto" never meets "tenerme"), which keeps the matcher small.
pub fn forms_with(w: &TermWord, enclitics: bool) -> Vec<String> {
    match w.class {
        Inflection::Exact => vec![w.text.clone()],
        Inflection::Nominal => nominal(&w.text),
        Inflection::Verb => verb(&w.text, enclitics),
    }
}

fn nominal(w: &str) -> Vec<String> {
    let mut out = vec![w.to_string()];
    let add = |out: &mut Vec<String>, s: String| {
        if !out.contains(&s) {
            out.push(s)
        }
    };
    if let Some(b) = w.strip_suffix('o') {
        for e in ["a", "os", "as"] {
            add(&mut out, format!("{b}{e}"));
        }
    } else if w.ends_with('a') || w.ends_with('e') || w.ends_with('i') || w.ends_with('u') {
        add(&mut out, format!("{w}s"));
    } else if w.ends_with("ion") {
        // -ión nouns have no feminine: "solución" → "soluciones" ("soluciona" is a verb).
        add(&mut out, format!("{w}es"));
    } else if w.ends_with("on") || w.ends_with("or") {
        for e in ["a", "es", "as"] {
            add(&mut out, format!("{w}{e}"));
        }
    } else if let Some(b) = w.strip_suffix('z') {
        add(&mut out, format!("{b}ces"));
    } else if w.ends_with(|c: char| c.is_alphabetic()) {
        add(&mut out, format!("{w}es"));
    }
    out
}

/// Stem changes and irregular forms of the verbs contact-centre Spanish uses most (folded).
/// `changed` is the root with a diphthong or raised vowel (volver → vuelv); `extra` lists forms
/// that no rule produces.
struct Irregular {
    lemma: &'static str,
    changed: &'static [&'static str],
    extra: &'static [&'static str],
}

const IRREGULAR: &[Irregular] = &[
    Irregular {
        lemma: "ser",
        changed: &[],
        extra: &[
            "soy", "eres", "sos", "es", "somos", "sois", "son", "fui", "fuiste", "fue", "fuimos",
            "fuisteis", "fueron", "era", "eras", "eramos", "erais", "eran", "sea", "seas",
            "seamos", "seais", "sean", "fuera", "fueras", "fueramos", "fueran", "se", "sido",
            "siendo",
        ],
    },
    Irregular {
        lemma: "estar",
        changed: &[],
        extra: &[
            "estoy",
            "estas",
            "esta",
            "estamos",
            "estais",
            "estan",
            "estuve",
            "estuviste",
            "estuvo",
            "estuvimos",
            "estuvieron",
            "este",
            "estes",
            "esten",
            "estuviera",
            "estuvieran",
        ],
    },
    Irregular {
        lemma: "ir",
        changed: &[],
        extra: &[
            "voy", "vas", "va", "vamos", "vais", "van", "fui", "fuiste", "fue", "fuimos", "fueron",
            "iba", "ibas", "ibamos", "iban", "vaya", "vayas", "vayamos", "vayan", "ve", "vete",
            "andate", "yendo", "ido",
        ],
    },
    Irregular {
        lemma: "haber",
        changed: &[],
        extra: &[
            "he", "has", "ha", "hemos", "han", "hay", "hube", "hubo", "habia", "habian", "haya",
            "hayas", "hayan", "hubiera", "hubieran", "habra", "habria",
        ],
    },
    Irregular {
        lemma: "tener",
        changed: &["tien"],
        extra: &[
            "tengo",
            "tenga",
            "tengas",
            "tengamos",
            "tengan",
            "tuve",
            "tuviste",
            "tuvo",
            "tuvimos",
            "tuvieron",
            "tuviera",
            "tuvieran",
            "tendre",
            "tendras",
            "tendra",
            "tendremos",
            "tendran",
            "tendria",
            "tendrian",
            "ten",
            "tene",
        ],
    },
    Irregular {
        lemma: "hacer",
        changed: &[],
        extra: &[
            "hago", "haga", "hagas", "hagamos", "hagan", "hice", "hiciste", "hizo", "hicimos",
            "hicieron", "hiciera", "hicieran", "hare", "haras", "hara", "haremos", "haran",
            "haria", "harian", "haz", "hecho", "hecha", "hechos", "hechas",
        ],
    },
    Irregular {
        lemma: "decir",
        changed: &["dic"],
        extra: &[
            "digo", "diga", "digas", "digamos", "digan", "dije", "dijiste", "dijo", "dijimos",
            "dijeron", "dijera", "dijeran", "dire", "diras", "dira", "diremos", "diran", "diria",
            "dirian", "di", "deci", "dicho", "dicha", "diciendo",
        ],
    },
    Irregular {
        lemma: "poder",
        changed: &["pued"],
        extra: &[
            "pude", "pudiste", "pudo", "pudimos", "pudieron", "pudiera", "pudieran", "podre",
            "podra", "podran", "podria", "podrian", "pudiendo",
        ],
    },
    Irregular {
        lemma: "querer",
        changed: &["quier"],
        extra: &[
            "quise",
            "quisiste",
            "quiso",
            "quisimos",
            "quisieron",
            "quisiera",
            "quisieran",
            "querre",
            "querra",
            "querria",
        ],
    },
    Irregular {
        lemma: "venir",
        changed: &["vien"],
        extra: &[
            "vengo", "venga", "vengas", "vengamos", "vengan", "vine", "viniste", "vino", "vinimos",
            "vinieron", "viniera", "vendre", "vendra", "vendran", "vendria", "ven", "viniendo",
        ],
    },
    Irregular {
        lemma: "dar",
        changed: &[],
        extra: &[
            "doy", "das", "da", "damos", "dan", "di", "diste", "dio", "dimos", "dieron", "diera",
            "dieran", "de", "des", "den", "dado", "dando",
        ],
    },
    Irregular {
        lemma: "ver",
        changed: &[],
        extra: &[
            "veo", "ves", "ve", "vemos", "ven", "vi", "viste", "vio", "vimos", "vieron", "veia",
            "veian", "vea", "veas", "vean", "visto", "viendo",
        ],
    },
    Irregular {
        lemma: "saber",
        changed: &[],
        extra: &[
            "se", "supe", "supo", "supieron", "sepa", "sepas", "sepan", "sabre", "sabra", "sabria",
        ],
    },
    Irregular {
        lemma: "poner",
        changed: &[],
        extra: &[
            "pongo", "ponga", "pongan", "puse", "puso", "pusieron", "pondre", "pondra", "pondria",
            "pon", "puesto", "puesta",
        ],
    },
    Irregular {
        lemma: "volver",
        changed: &["vuelv"],
        extra: &["vuelto", "vuelta"],
    },
    Irregular {
        lemma: "devolver",
        changed: &["devuelv"],
        extra: &["devuelto", "devuelta"],
    },
    Irregular {
        lemma: "resolver",
        changed: &["resuelv"],
        extra: &["resuelto", "resuelta"],
    },
    Irregular {
        lemma: "colgar",
        changed: &["cuelg"],
        extra: &["colgue", "cuelgue", "cuelguen"],
    },
    Irregular {
        lemma: "seguir",
        changed: &["sigu"],
        extra: &[
            "sigo",
            "siga",
            "sigan",
            "sigas",
            "siguio",
            "siguieron",
            "siguiendo",
        ],
    },
    Irregular {
        lemma: "pedir",
        changed: &["pid"],
        extra: &["pidio", "pidieron", "pidiendo"],
    },
    Irregular {
        lemma: "repetir",
        changed: &["repit"],
        extra: &["repitio", "repitieron", "repitiendo"],
    },
    Irregular {
        lemma: "mentir",
        changed: &["mient", "mint"],
        extra: &["mintio", "mintieron", "mintiendo"],
    },
    Irregular {
        lemma: "entender",
        changed: &["entiend"],
        extra: &[],
    },
    Irregular {
        lemma: "atender",
        changed: &["atiend"],
        extra: &[],
    },
    Irregular {
        lemma: "perder",
        changed: &["pierd"],
        extra: &[],
    },
    Irregular {
        lemma: "pensar",
        changed: &["piens"],
        extra: &[],
    },
    Irregular {
        lemma: "costar",
        changed: &["cuest"],
        extra: &[],
    },
    Irregular {
        lemma: "probar",
        changed: &["prueb"],
        extra: &[],
    },
    Irregular {
        lemma: "servir",
        changed: &["sirv"],
        extra: &["sirvio", "sirvieron"],
    },
    Irregular {
        lemma: "caer",
        changed: &[],
        extra: &[
            "caigo", "caiga", "caigan", "cayo", "cayeron", "cayendo", "caido", "caida",
        ],
    },
    Irregular {
        lemma: "oir",
        changed: &[],
        extra: &[
            "oigo", "oye", "oyes", "oyen", "oiga", "oigan", "oyo", "oyeron", "oyendo", "oido",
        ],
    },
    Irregular {
        lemma: "traer",
        changed: &[],
        extra: &[
            "traigo", "traiga", "traigan", "traje", "trajo", "trajeron", "traido",
        ],
    },
    Irregular {
        lemma: "salir",
        changed: &[],
        extra: &["salgo", "salga", "salgan", "saldra", "saldria", "sal"],
    },
    Irregular {
        lemma: "morir",
        changed: &["muer"],
        extra: &["murio", "murieron", "muerto", "muerta"],
    },
    Irregular {
        lemma: "sentir",
        changed: &["sient", "sint"],
        extra: &["sintio", "sintieron"],
    },
    Irregular {
        lemma: "aguantar",
        changed: &[],
        extra: &[],
    },
];

const AR: &[&str] = &[
    "ar", "ando", "ado", "ada", "ados", "adas", "o", "as", "a", "amos", "ais", "an", "e", "aste",
    "o", "asteis", "aron", "aba", "abas", "abamos", "abais", "aban", "are", "aras", "ara",
    "aremos", "areis", "aran", "aria", "arias", "ariamos", "ariais", "arian", "es", "emos", "eis",
    "en", "aras", "aramos", "arais", "ase", "ases", "asen", "ad",
];
const ER: &[&str] = &[
    "er", "iendo", "ido", "ida", "idos", "idas", "o", "es", "e", "emos", "eis", "en", "i", "iste",
    "io", "imos", "isteis", "ieron", "ia", "ias", "iamos", "iais", "ian", "ere", "eras", "era",
    "eremos", "ereis", "eran", "eria", "erias", "eriamos", "erian", "a", "as", "amos", "ais", "an",
    "iera", "ieras", "ieramos", "ieran", "iese", "iesen", "ed",
];
const IR: &[&str] = &[
    "ir", "iendo", "ido", "ida", "idos", "idas", "o", "es", "e", "imos", "is", "en", "i", "iste",
    "io", "isteis", "ieron", "ia", "ias", "iamos", "iais", "ian", "ire", "iras", "ira", "iremos",
    "ireis", "iran", "iria", "irias", "iriamos", "irian", "a", "as", "amos", "ais", "an", "iera",
    "ieras", "ieramos", "ieran", "iese", "iesen", "id",
];
/// Endings stressed on the root: present singular and third plural, present subjunctive
/// (where a stem-changing verb takes its changed root).
const STRESSED: &[&str] = &["o", "as", "a", "an", "es", "e", "en"];
/// Irregular imperatives that take enclitic pronouns.
const IMPERATIVE_HOSTS: &[&str] = &[
    "di", "diga", "digan", "haz", "haga", "hagan", "pon", "ponga", "pongan", "ve", "vaya", "ven",
    "venga", "da", "de", "den", "oye", "oiga", "oigan", "deci", "tene", "sea", "sean", "siga",
    "sigan", "pida", "repita", "tenga", "tengan", "vuelva", "cuelgue",
];
/// Pronouns attached to infinitives, gerunds and imperatives ("llamarme", "dígame", "pasáselo").
const ENCLITICS: &[&str] = &[
    "me", "te", "le", "lo", "la", "nos", "os", "les", "los", "las", "se", "melo", "mela", "selo",
    "sela", "telo", "noslo",
];

/// Root before an ending, with the spelling a regular verb needs to keep its sound.
fn spelled(root: &str, conj: char, ending: &str) -> String {
    let front = ending.starts_with(['e', 'i']);
    let back = ending.starts_with(['a', 'o']);
    let (r, tail) = root.split_at(root.len() - root.chars().last().map_or(0, char::len_utf8));
    match (conj, tail) {
        ('a', "c") if front => format!("{r}qu{ending}"),
        ('a', "g") if front => format!("{r}gu{ending}"),
        ('a', "z") if front => format!("{r}c{ending}"),
        ('e' | 'i', "c") if back && !root.ends_with("ec") => format!("{r}z{ending}"),
        ('e' | 'i', "g") if back => format!("{r}j{ending}"),
        _ if (conj == 'e' || conj == 'i') && root.ends_with("gu") && back => {
            format!("{}{ending}", &root[..root.len() - 1])
        }
        _ => format!("{root}{ending}"),
    }
}

fn verb(lemma: &str, enclitics: bool) -> Vec<String> {
    let conj = lemma.chars().rev().nth(1).unwrap_or('a');
    let root = &lemma[..lemma.len() - 2];
    let endings = match conj {
        'a' => AR,
        'e' => ER,
        _ => IR,
    };
    let irregular = IRREGULAR.iter().find(|i| i.lemma == lemma);
    let mut roots = vec![root.to_string()];
    if let Some(i) = irregular {
        roots.extend(i.changed.iter().map(|s| s.to_string()));
    }
    // -ecer/-ucir verbs take -zc- before a/o: "parezco", "merezca".
    let zc = (lemma.ends_with("ecer") || lemma.ends_with("ucir")).then(|| {
        let r = &root[..root.len() - 1];
        ["zco", "zca", "zcas", "zcamos", "zcan"].map(|e| format!("{r}{e}"))
    });
    let mut out = vec![lemma.to_string()];
    let mut push = |s: String| {
        if !out.contains(&s) {
            out.push(s)
        }
    };
    // A stem-changing verb takes its changed root where the stress falls on it (present
    // singular and third plural, present subjunctive) and its plain root elsewhere: "siento",
    // "sentimos", never "sento" (a form of "sentar").
    // In -ir verbs the raised vowel also takes "-amos"/"-áis" ("sintamos", never "sentamos").
    let changes = roots.len() > 1;
    for (k, r) in roots.iter().enumerate() {
        for e in endings {
            let stressed = STRESSED.contains(e) || (conj == 'i' && matches!(*e, "amos" | "ais"));
            let last = k + 1 == roots.len();
            let wanted = !changes
                || (k == 0 && !stressed)
                || (k > 0 && stressed && (last || STRESSED.contains(e)));
            if wanted {
                push(spelled(r, conj, e));
            }
        }
    }
    // Voseo present keeps the plain root: "tenés", "contás", "sentís".
    push(format!(
        "{root}{}",
        match conj {
            'a' => "as",
            'e' => "es",
            _ => "is",
        }
    ));
    for f in zc.into_iter().flatten() {
        push(f);
    }
    if let Some(i) = irregular {
        for f in i.extra {
            push(f.to_string());
        }
    }
    // Voseo imperative and present (folded): "escuchá", "tené", "decí"; "tenés" is root + "es".
    push(format!("{root}{conj}"));
    // Enclitics on the infinitive, the gerund and the imperatives.
    let gerund = if conj == 'a' { "ando" } else { "iendo" };
    let mut hosts = vec![lemma.to_string(), format!("{root}{gerund}")];
    // Imperatives of this conjugation: tú / usted / ustedes with the stressed root, vosotros
    // and vos with the plain one.
    let (tu, usted, ustedes, vosotros) = match conj {
        'a' => ("a", "e", "en", "ad"),
        'e' => ("e", "a", "an", "ed"),
        _ => ("e", "a", "an", "id"),
    };
    let stressed_root = roots.last().unwrap_or(&roots[0]);
    for e in [tu, usted, ustedes] {
        hosts.push(spelled(stressed_root, conj, e));
    }
    hosts.push(spelled(root, conj, vosotros));
    hosts.push(format!("{root}{conj}"));
    if let Some(i) = irregular {
        // Short irregular imperatives take pronouns ("dime", "hazlo", "ponlo", "dígame").
        for f in i.extra.iter().filter(|f| IMPERATIVE_HOSTS.contains(f)) {
            hosts.push(f.to_string());
        }
    }
    for h in hosts.into_iter().filter(|_| enclitics) {
        for c in ENCLITICS {
            push(format!("{h}{c}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(raw: &str) -> Vec<String> {
        forms(&parse_word(raw).unwrap())
    }

    #[test]
    fn nominal_classes() {
        assert_eq!(
            f("cabreado"),
            ["cabreado", "cabreada", "cabreados", "cabreadas"]
        );
        assert!(!f("cabreado").contains(&"cabra".to_string()));
        assert_eq!(f("imbécil"), ["imbecil", "imbeciles"]);
        assert_eq!(f("cabrón"), ["cabron", "cabrona", "cabrones", "cabronas"]);
        assert_eq!(f("dicho="), ["dicho"]);
        assert_eq!(f("gracias"), ["gracias"]);
    }

    #[test]
    fn verbs_conjugate_with_spelling_and_voseo() {
        let v = f("explicar:v");
        for w in [
            "explico",
            "explique",
            "expliquen",
            "explicame",
            "explicando",
            "explicá",
        ] {
            assert!(v.contains(&fold(w)), "{w}");
        }
        let t = f("tener:v");
        for w in ["tienen", "tenés", "tengo", "tuvo", "tendrá"] {
            assert!(t.contains(&fold(w)), "{w}");
        }
        let e = f("escuchar:v");
        assert!(e.contains(&"escucheme".to_string()) && e.contains(&"escucha".to_string()));
        assert!(parse_word("harto:v").is_err());
    }
}
