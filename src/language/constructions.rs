//! Grammar-level cues of a customer turn that no single word carries: ultimatums ("o me lo
//! arreglan hoy o me doy de baja", "si no me lo solucionan, voy a denunciar"), counted contacts
//! ("es la tercera vez que llamo", "ya van seis llamadas"), counted waits ("llevo tres días sin
//! línea", "¿cuánto más tengo que esperar?") and rhetorical challenges ("¿usted sabe lo que es…?").
//! Each found construction is a named rule with the customer's own words as evidence.
//!
//! Read over folded words (accents off, fillers kept out), so ASR spellings match.

/// What a construction says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// "o me lo arreglan hoy o me doy de baja", "me cancelan ya o no respondo", a sworn threat
    /// ("le juro que si me cortan la luz otra vez les hago juicio"): hostility.
    Ultimatum,
    /// "si no me mejoran la oferta, me cambio", "si no se soluciona, iré a Consumo": a calm
    /// conditional threat, often said politely: an early signal, not anger.
    Condition,
    /// The customer counts their contacts (n ≥ 2).
    CountedContact(u32),
    /// The customer counts how long they have waited, in minutes (approximately).
    CountedWait(u32),
    /// "¿usted sabe lo que…?", "¿a usted le parece normal?".
    Rhetorical,
    /// The customer says it again for weight, closing a clause: "tres técnicos, tres", "cada mes
    /// lo mismo, cada mes", "desde octubre, desde octubre", "toda la mañana… toda la mañana".
    Echo,
    /// Attempts counted and none worked: "tres técnicos y nadie lo arregla", "me han dado cuatro
    /// números de reclamo y ninguno ha servido".
    CountedFailure,
}

impl Kind {
    /// Rule name in evidence.
    pub fn rule(self) -> String {
        match self {
            Kind::Ultimatum => "construction/ultimatum".into(),
            Kind::Condition => "construction/conditional_threat".into(),
            Kind::CountedContact(n) => format!("construction/counted_contact:{n}"),
            Kind::CountedWait(m) => format!("construction/counted_wait:{}", wait_words(m)),
            Kind::Rhetorical => "construction/rhetorical_question".into(),
            Kind::Echo => "construction/emphatic_echo".into(),
            Kind::CountedFailure => "construction/counted_failure".into(),
        }
    }

    /// The construction's family, without its count: a feature of the learned reading.
    pub fn family(self) -> &'static str {
        match self {
            Kind::Ultimatum => "ultimatum",
            Kind::Condition => "conditional_threat",
            Kind::CountedContact(2) => "counted_contact_2",
            Kind::CountedContact(_) => "counted_contact_3_or_more",
            Kind::CountedWait(m) => wait_words(m),
            Kind::Rhetorical => "rhetorical_question",
            Kind::Echo => "emphatic_echo",
            Kind::CountedFailure => "counted_failure",
        }
    }
}

fn wait_words(minutes: u32) -> &'static str {
    match minutes {
        0..=59 => "minutes",
        60..=1439 => "hours",
        1440..=10079 => "days",
        _ => "weeks_or_more",
    }
}

/// One construction found over tokens `first..=last`.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub kind: Kind,
    pub first: usize,
    pub last: usize,
}

/// Ordinals as ASR writes them, folded: "segunda vez".
const ORDINALS: &[(&str, u32)] = &[
    ("segunda", 2),
    ("segundo", 2),
    ("tercera", 3),
    ("tercer", 3),
    ("tercero", 3),
    ("cuarta", 4),
    ("quinta", 5),
    ("sexta", 6),
    ("septima", 7),
    ("octava", 8),
    ("decima", 10),
    ("enesima", 10),
    ("milesima", 20),
];

/// Small cardinals (folded) and the vague counts customers use for "many".
fn count_word(w: &str) -> Option<u32> {
    let n = match w {
        "dos" => 2,
        "tres" => 3,
        "cuatro" => 4,
        "cinco" => 5,
        "seis" => 6,
        "siete" => 7,
        "ocho" => 8,
        "nueve" => 9,
        "diez" => 10,
        "once" => 11,
        "doce" => 12,
        "quince" => 15,
        "veinte" => 20,
        "treinta" => 30,
        "cuarenta" => 40,
        "cincuenta" => 50,
        "cien" => 100,
        "mil" => 1000,
        "varias" | "varios" | "muchas" | "muchos" => 4,
        "un" | "una" | "uno" => 1,
        "media" | "medio" => 1,
        _ => return w.parse().ok().filter(|n: &u32| *n < 10_000),
    };
    Some(n)
}

/// Minutes in one unit of a wait ("horas" → 60).
fn unit_minutes(w: &str) -> Option<u32> {
    Some(match w {
        "minuto" | "minutos" | "rato" => 1,
        "hora" | "horas" => 60,
        "dia" | "dias" => 1440,
        "semana" | "semanas" => 10_080,
        "mes" | "meses" => 43_200,
        "mañana" | "tarde" | "noche" | "jornada" => 240,
        "ano" | "anos" | "año" | "años" => 525_600,
        _ => return None,
    })
}

/// Things that go wrong again and again: "tercer apagón", "segunda visita del técnico".
const EVENT_NOUNS: &[&str] = &[
    "apagon",
    "corte",
    "caida",
    "visita",
    "llamada",
    "reclamo",
    "reclamacion",
    "queja",
    "ticket",
    "tecnico",
    "intento",
    "cargo",
    "cobro",
    "factura",
    "mes",
    "semana",
    "dia",
    "envio",
    "pedido",
    "cita",
    "incidencia",
    "averia",
    "falla",
    "fallo",
];
/// Contact words after a count: "tres veces", "seis llamadas".
const CONTACT_NOUNS: &[&str] = &[
    "veces",
    "vez",
    "llamadas",
    "llamada",
    "reclamos",
    "reclamaciones",
    "correos",
    "mensajes",
    "tickets",
    "quejas",
];
/// Verbs of contacting that make "N veces" a counted contact ("he llamado tres veces").
const CONTACT_VERBS: &[&str] = &[
    "llamo",
    "llame",
    "llamado",
    "llamando",
    "llamar",
    "llamamos",
    "llamando",
    "escrito",
    "escribo",
    "reclamado",
    "reclame",
    "reclamo",
    "pedido",
    "pedi",
    "dicho",
    "dije",
    "explicado",
    "explique",
    "repetido",
    "repeti",
    "di",
    "dado",
    "mandado",
    "mande",
    "enviado",
    "envie",
    "hablado",
    "hable",
    "marcado",
    "comunicado",
    "contacto",
    "contactado",
    "vengo",
    "venido",
    "vine",
    "ido",
    "fui",
];
/// What follows a duration when it is a wait: "llevo tres días sin luz", "dos horas esperando".
fn waiting_word(w: &str) -> bool {
    matches!(
        w,
        "sin" | "asi" | "igual" | "llamando" | "reclamando" | "intentando" | "pidiendo"
    ) || w.starts_with("esper")
}

/// Verbs of having waited: "llevo", "llevamos", "lleva", "hace".
const WAIT_VERBS: &[&str] = &[
    "llevo", "llevamos", "lleva", "llevan", "llevas", "hace", "hacen", "desde",
];

/// Words of a threat said in rage rather than as a calm condition.
const RAGE_THREATS: &[&str] = &[
    "hundo",
    "fundo",
    "lio",
    "armo",
    "escandalo",
    "respondo",
    "escracho",
    "expongo",
    "mato",
    "rompo",
];

/// Threats that close an ultimatum's second half.
const THREAT_STARTS: &[&[&str]] = &[
    &["voy", "a"],
    &["vamos", "a"],
    &["me", "voy"],
    &["me", "doy"],
    &["me", "cambio"],
    &["me", "paso"],
    &["los", "denuncio"],
    &["les", "denuncio"],
    &["lo", "denuncio"],
    &["os", "denuncio"],
    &["te", "denuncio"],
    &["denuncio"],
    &["cancelo"],
    &["cuelgo"],
    &["doy", "de", "baja"],
    &["me", "cambio"],
    &["pienso"],
    &["ire"],
    &["llamo", "a"],
    &["pongo", "una"],
    &["hablo", "con"],
    &["me", "llevo"],
    &["no", "pago"],
    &["dejo", "de", "pagar"],
    &["les", "hago"],
    &["los", "hundo"],
    &["los", "fundo"],
    &["la", "lio"],
    &["armo"],
    &["voy", "hasta"],
    &["os", "juro"],
    &["no", "respondo"],
    &["los", "demando"],
    &["les", "pongo"],
    &["los", "escracho"],
    &["los", "expongo"],
];

fn starts_with(words: &[String], at: usize, seq: &[&str]) -> bool {
    seq.iter()
        .enumerate()
        .all(|(k, w)| words.get(at + k).is_some_and(|x| x == w))
}

/// Find the constructions of a customer turn. `words` are folded tokens; `breaks[i]` says a
/// clause break stands before token `i`.
pub fn find(words: &[String], breaks: &[bool]) -> Vec<Found> {
    let mut out = Vec::new();
    ultimatum(words, breaks, &mut out);
    counted(words, &mut out);
    rhetorical(words, &mut out);
    echo(words, breaks, &mut out);
    counted_failure(words, &mut out);
    out
}

/// "Nobody", "none", "nothing" after a count: the attempts failed.
const NONE_WORDS: &[&str] = &["ninguno", "ninguna", "nadie", "nada"];

/// A count of two or more, words that are not numbers, then "y" + a word for none within
/// eight words ([`Kind::CountedFailure`]).
fn counted_failure(words: &[String], out: &mut Vec<Found>) {
    let n = words.len();
    let number = |w: &str| super::lexicon::is_number_word(w);
    for i in 0..n {
        if count_word(&words[i]).is_none_or(|k| k < 2) {
            continue;
        }
        let Some(y) = (i + 2..(i + 8).min(n)).find(|&j| words[j] == "y") else {
            continue;
        };
        if !words[i + 1..y].iter().any(|w| !number(w)) {
            continue;
        }
        // "… y nada más" closes a request, it reports no failure.
        let none = |k: usize| {
            NONE_WORDS.contains(&words[k].as_str())
                && !words
                    .get(k + 1)
                    .is_some_and(|w| matches!(w.as_str(), "mas" | "más"))
        };
        if let Some(k) = (y + 1..(y + 3).min(n)).find(|&k| none(k)) {
            out.push(Found {
                kind: Kind::CountedFailure,
                first: i,
                last: k,
            });
            return;
        }
    }
}

/// Words that are repeated for rhythm, not weight ("bueno, bueno", "gracias, gracias").
const NOT_EMPHASIS: &[&str] = &[
    "bueno",
    "claro",
    "gracias",
    "perfecto",
    "vale",
    "dale",
    "listo",
    "hola",
    "senorita",
    "señorita",
    "senora",
    "señora",
    "senor",
    "señor",
    "oiga",
    "mire",
    "mira",
    "okay",
    "este",
    "entonces",
    "pues",
    "digo",
    "sabe",
    "verdad",
    "favor",
];

/// An emphatic echo ([`Kind::Echo`]): a unit of one to three words said again within five
/// words, the repeat closing the clause (the turn ends or a break follows), with at least one
/// word of four letters or more or a number in it, and something other than numbers in between
/// or a break (so digits read out, "cuatro cinco cuatro", and ASR stutters, "la la", are not).
fn echo(words: &[String], breaks: &[bool], out: &mut Vec<Found>) {
    let n = words.len();
    let number = |w: &str| super::lexicon::is_number_word(w);
    for len in (1..=3).rev() {
        for j in len..=n.saturating_sub(len) {
            let end = j + len;
            if end < n && !breaks[end] && !matches!(words[end].as_str(), "y" | "e" | "pero") {
                continue;
            }
            let unit = &words[j..end];
            if !unit.iter().any(|w| w.chars().count() >= 4 || number(w))
                || unit.iter().any(|w| NOT_EMPHASIS.contains(&w.as_str()))
            {
                continue;
            }
            for gap in 0..=4 {
                let Some(i) = j.checked_sub(len + gap) else {
                    break;
                };
                if words[i..i + len] != *unit {
                    continue;
                }
                let between = &words[i + len..j];
                let separated = breaks[j] || between.iter().any(|w| !number(w));
                if separated && (gap > 0 || breaks[j]) {
                    out.push(Found {
                        kind: Kind::Echo,
                        first: i,
                        last: end - 1,
                    });
                    return;
                }
            }
        }
    }
}

fn ultimatum(words: &[String], breaks: &[bool], out: &mut Vec<Found>) {
    let n = words.len();
    let sworn = words.iter().any(|w| w == "juro");
    // "no sé qué voy a hacer", "cómo voy a pagar": a "voy a" after an interrogative is a
    // question or distress, not a threat.
    let asks = |j: usize| {
        j > 0
            && matches!(
                words[j - 1].as_str(),
                "que" | "como" | "donde" | "cuando" | "quien"
            )
    };
    let threat_after = |from: usize, to: usize| {
        (from..to.min(n)).find_map(|j| {
            THREAT_STARTS
                .iter()
                .find(|s| starts_with(words, j, s) && !asks(j))
                .map(|s| j + s.len())
        })
    };
    for i in 0..n {
        // "o me lo arreglan hoy o me doy de baja": a clause-initial "o", a second "o" two or more
        // words later.
        if words[i] == "o" && (i == 0 || breaks[i] || words[i - 1] == "ya" || words[i - 1] == "y") {
            if let Some(j) = (i + 3..n.min(i + 16)).find(|&j| words[j] == "o") {
                if j + 1 < n {
                    out.push(Found {
                        kind: Kind::Ultimatum,
                        first: i,
                        last: (j + 3).min(n - 1),
                    });
                    return;
                }
            }
        }
        // "me cancelan ya o no respondo", "o me paso con otro", "o los denuncio".
        if words[i] == "o" && i >= 2 {
            let closing = starts_with(words, i + 1, &["no", "respondo"])
                || starts_with(words, i + 1, &["no", "me", "hago", "responsable"]);
            if closing || (THREAT_STARTS.iter().any(|s| starts_with(words, i + 1, s)) && sworn) {
                out.push(Found {
                    kind: Kind::Ultimatum,
                    first: i.saturating_sub(3),
                    last: (i + 2).min(n - 1),
                });
                return;
            }
        }
        // "si no me lo arreglan (hoy), voy a …", "como no me lo solucionen, me doy de baja",
        // "como mañana no tenga luz, voy a la oficina", "si a las cinco no tengo luz voy hasta allá".
        let conditional = words[i] == "si" || words[i] == "como";
        let negated = conditional && (i + 1..n.min(i + 6)).any(|j| words[j] == "no");
        if negated {
            if let Some(end) = threat_after(i + 3, i + 18) {
                // Rage words or an oath make it an ultimatum; otherwise a calm condition.
                let rage = sworn
                    || (i..=end.min(n - 1)).any(|j| RAGE_THREATS.contains(&words[j].as_str()));
                out.push(Found {
                    kind: if rage {
                        Kind::Ultimatum
                    } else {
                        Kind::Condition
                    },
                    first: i,
                    last: end.min(n - 1),
                });
                return;
            }
        }
        // "te juro que si me cortan la luz otra vez les hago juicio": a sworn conditional threat.
        if words[i] == "si" && sworn {
            if let Some(end) = threat_after(i + 2, i + 14) {
                out.push(Found {
                    kind: Kind::Ultimatum,
                    first: i,
                    last: end.min(n - 1),
                });
                return;
            }
        }
    }
}

fn counted(words: &[String], out: &mut Vec<Found>) {
    let n = words.len();
    let mut contact: Option<Found> = None;
    let mut wait: Option<Found> = None;
    let keep = |slot: &mut Option<Found>, f: Found| {
        let better = match (&slot, f.kind) {
            (None, _) => true,
            (
                Some(Found {
                    kind: Kind::CountedContact(a),
                    ..
                }),
                Kind::CountedContact(b),
            ) => b > *a,
            (
                Some(Found {
                    kind: Kind::CountedWait(a),
                    ..
                }),
                Kind::CountedWait(b),
            ) => b > *a,
            _ => false,
        };
        if better {
            *slot = Some(f);
        }
    };
    for i in 0..n {
        let w = words[i].as_str();
        // "la tercera vez", "por cuarta vez", "tercer apagón de la semana", "segunda visita"
        if let Some(&(_, k)) = ORDINALS.iter().find(|(o, _)| *o == w) {
            let event = words
                .get(i + 1)
                .is_some_and(|x| x == "vez" || EVENT_NOUNS.contains(&x.as_str()));
            if event {
                keep(
                    &mut contact,
                    Found {
                        kind: Kind::CountedContact(k),
                        first: i,
                        last: i + 1,
                    },
                );
            }
        }
        // "ya van seis llamadas", "tres veces he llamado", "he llamado tres veces"
        if let Some(k) = count_word(w).filter(|k| *k >= 2) {
            if let Some(noun) = words
                .get(i + 1)
                .filter(|x| CONTACT_NOUNS.contains(&x.as_str()))
            {
                let counted_by_verb = (i.saturating_sub(7)..(i + 5).min(n))
                    .any(|j| CONTACT_VERBS.contains(&words[j].as_str()));
                let van = i >= 1 && (words[i - 1] == "van" || words[i - 1] == "llevo");
                let is_calls = noun.starts_with("llamad")
                    || noun.starts_with("reclam")
                    || noun.starts_with("quej");
                if counted_by_verb || van || is_calls {
                    keep(
                        &mut contact,
                        Found {
                            kind: Kind::CountedContact(k),
                            first: i,
                            last: i + 1,
                        },
                    );
                }
            }
            // "llevo tres días sin línea", "hace dos semanas que espero", "dos horas esperando";
            // not tenure ("llevamos seis años con ustedes") or a date ("hace tres semanas pedí").
            if let Some(u) = words.get(i + 1).and_then(|x| unit_minutes(x)) {
                let verb =
                    (i.saturating_sub(3)..i).find(|&j| WAIT_VERBS.contains(&words[j].as_str()));
                let next = words.get(i + 2).map(String::as_str).unwrap_or("");
                let waiting = waiting_word(next)
                    || (next == "y"
                        && words
                            .get(i + 3)
                            .is_some_and(|x| x == "nada" || x == "sigo" || x == "sigue"));
                let hace_que = verb.is_some_and(|j| words[j] == "hace") && next == "que";
                let on_hold = matches!(
                    next,
                    "llevo"
                        | "llevamos"
                        | "colgado"
                        | "colgada"
                        | "pegado"
                        | "pegada"
                        | "parado"
                        | "parada"
                        | "sentado"
                        | "sentada"
                ) || (next == "al"
                    && words.get(i + 3).is_some_and(|x| x == "telefono"))
                    || (next == "en"
                        && words.get(i + 3).is_some_and(|x| {
                            x == "espera" || x == "linea" || x == "fila" || x == "cola"
                        }))
                    || (next == "y"
                        && words
                            .get(i + 3)
                            .is_some_and(|x| matches!(x.as_str(), "media" | "cuarto"))
                        && words.get(i + 4).is_some_and(|x| {
                            x == "al" || x == "en" || x == "esperando" || x == "llevo"
                        }))
                    || (next == "on" && words.get(i + 3).is_some_and(|x| x == "hold"));
                let llevo = verb.is_some_and(|j| words[j].starts_with("llev"))
                    && (waiting || i + 2 >= n || next == "que");
                if waiting || hace_que || llevo || on_hold {
                    let first = verb.unwrap_or(i);
                    keep(
                        &mut wait,
                        Found {
                            kind: Kind::CountedWait(k * u),
                            first,
                            last: (i + 2).min(n - 1),
                        },
                    );
                }
            }
        }
        // "llevo horas esperando", "llevo días sin internet"
        if w.starts_with("llev") && WAIT_VERBS.contains(&w) {
            let mut j = i + 1;
            while j < n
                && matches!(
                    words[j].as_str(),
                    "ya" | "mas" | "de" | "como" | "casi" | "toda" | "todo" | "el" | "la"
                )
            {
                j += 1;
            }
            // "llevo una semana sin internet": a count before the unit.
            let k = words.get(j).and_then(|x| count_word(x));
            if k.is_some() {
                j += 1;
            }
            if let Some(u) = words.get(j).and_then(|x| unit_minutes(x)) {
                let next = words.get(j + 1).map(String::as_str).unwrap_or("");
                if waiting_word(next) || j + 1 >= n {
                    keep(
                        &mut wait,
                        Found {
                            kind: Kind::CountedWait(k.unwrap_or(3).max(1) * u),
                            first: i,
                            last: j,
                        },
                    );
                }
            }
        }
        // "¿cuánto más tengo que esperar?", "cuánto tiempo más"
        if w == "cuanto" || w == "cuantos" {
            let tail: Vec<&str> = words[i + 1..n.min(i + 6)]
                .iter()
                .map(String::as_str)
                .collect();
            if tail.contains(&"mas") && tail.iter().any(|x| x.starts_with("esper")) {
                keep(
                    &mut wait,
                    Found {
                        kind: Kind::CountedWait(60),
                        first: i,
                        last: (i + tail.len()).min(n - 1),
                    },
                );
            }
        }
    }
    // Lateness against a promised time: "dijo que venía a las dos y ya son las cuatro".
    if wait.is_none() {
        let promised = (0..n.saturating_sub(2)).find(|&i| {
            matches!(words[i].as_str(), "a" | "para")
                && words[i + 1] == "las"
                && count_word(&words[i + 2]).is_some()
        });
        if let Some(p) = promised {
            if let Some(j) =
                (p + 3..n.saturating_sub(2)).find(|&j| words[j] == "son" && words[j + 1] == "las")
            {
                wait = Some(Found {
                    kind: Kind::CountedWait(60),
                    first: p,
                    last: (j + 2).min(n - 1),
                });
            }
        }
    }
    // Waiting since a day or date: "estoy esperando el reembolso desde el 3 de octubre",
    // "desde el jueves estoy esperando al técnico", "desde las seis".
    if wait.is_none() {
        let since = (0..n.saturating_sub(1)).find(|&i| {
            words[i] == "desde"
                && matches!(
                    words[i + 1].as_str(),
                    "el" | "la" | "las" | "hace" | "ayer" | "anoche" | "antier" | "anteayer"
                )
        });
        if let Some(d) = since {
            let waiting = (d.saturating_sub(6)..(d + 8).min(n))
                .any(|j| waiting_word(&words[j]) || words[j] == "aqui" || words[j] == "nada");
            if waiting {
                wait = Some(Found {
                    kind: Kind::CountedWait(1440),
                    first: d,
                    last: (d + 3).min(n - 1),
                });
            }
        }
    }
    out.extend(contact);
    out.extend(wait);
}

/// "¿usted sabe lo que…?", "¿sabe cuánto…?", "¿a usted le parece normal/lógico…?", "¿usted se cree
/// que…?", "¿tú sabes lo que es…?".
fn rhetorical(words: &[String], out: &mut Vec<Found>) {
    let n = words.len();
    for i in 0..n {
        let w = words[i].as_str();
        let you = matches!(w, "usted" | "tu" | "vos" | "ustedes");
        let next = |k: usize| words.get(i + k).map(String::as_str).unwrap_or("");
        let sabe = |x: &str| matches!(x, "sabe" | "sabes" | "sabias" | "sabia" | "saben");
        let hit = (you
            && sabe(next(1))
            && matches!(next(2), "lo" | "cuanto" | "cuantas" | "cuantos" | "que"))
            || (w == "sabe"
                && i == 0
                && matches!(next(1), "lo" | "cuanto" | "cuantas" | "cuantos"))
            || (you
                && matches!(next(1), "se")
                && matches!(next(2), "cree" | "creen" | "piensa" | "piensan"))
            || (matches!(w, "le" | "te" | "les")
                && matches!(next(1), "parece" | "parecen")
                && matches!(
                    next(2),
                    "normal" | "logico" | "justo" | "bien" | "serio" | "razonable"
                ))
            || (you && matches!(next(1), "tiene" | "tienes" | "tenes") && next(2) == "idea");
        if hit {
            out.push(Found {
                kind: Kind::Rhetorical,
                first: i,
                last: (i + 3).min(n - 1),
            });
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Kind> {
        let words: Vec<String> = text.split_whitespace().map(String::from).collect();
        let breaks = vec![false; words.len()];
        find(&words, &breaks).into_iter().map(|f| f.kind).collect()
    }

    #[test]
    fn ultimatums() {
        assert_eq!(
            kinds("o me lo arreglan hoy o me doy de baja"),
            [Kind::Ultimatum]
        );
        assert_eq!(
            kinds("si no me lo solucionan hoy voy a poner una denuncia"),
            [Kind::Condition]
        );
        assert_eq!(
            kinds("le juro que si me cortan la luz otra vez les hago juicio"),
            [Kind::Ultimatum]
        );
        assert_eq!(kinds("me cancelan ya o no respondo"), [Kind::Ultimatum]);
        assert!(kinds("no se si es el router o el cable").is_empty());
        // Distress, not a threat: the "voy a" answers a question.
        assert!(kinds("si no me lo regresan no se que voy a hacer").is_empty());
        assert!(kinds("si no me pagan como voy a pagar la renta").is_empty());
    }

    #[test]
    fn counts_and_waits() {
        assert_eq!(
            kinds("es la tercera vez que llamo"),
            [Kind::CountedContact(3)]
        );
        assert_eq!(kinds("ya van seis llamadas"), [Kind::CountedContact(6)]);
        assert_eq!(
            kinds("ya le di el numero dos veces"),
            [Kind::CountedContact(2)]
        );
        assert_eq!(
            kinds("llevo tres dias sin linea"),
            [Kind::CountedWait(3 * 1440)]
        );
        assert_eq!(
            kinds("cuanto mas tengo que esperar"),
            [Kind::CountedWait(60)]
        );
        assert!(kinds("tome dos pastillas").is_empty());
        assert!(kinds("a veces pasa").is_empty());
        assert!(kinds("ya tenemos como seis anos con ustedes").is_empty());
        assert!(kinds("llevamos seis anos con ustedes").is_empty());
        assert!(kinds("yo radique hace como tres semanas una solicitud").is_empty());
        assert_eq!(
            kinds("hace tres semanas que espero"),
            [Kind::CountedWait(3 * 10_080)]
        );
    }

    #[test]
    fn counted_failure() {
        for t in [
            "tres técnicos y nadie lo arregla",
            "me han dado cuatro números de reclamo y ninguno ha servido",
        ] {
            assert!(kinds(t).contains(&Kind::CountedFailure), "{t}");
        }
        for t in [
            "tengo dos preguntas y nada más",
            "es el cuatro cinco y nada",
        ] {
            assert!(!kinds(t).contains(&Kind::CountedFailure), "{t}");
        }
    }

    /// The constructions of a customer turn as the analyzer finds them (folded, with breaks).
    fn analyzed_kinds(text: &str) -> Vec<Kind> {
        crate::language::Analyzer::load(None)
            .unwrap()
            .analyze(text, crate::language::Side::Customer)
            .constructions
            .iter()
            .map(|c| c.kind)
            .collect()
    }

    #[test]
    fn emphatic_echo() {
        let kinds = analyzed_kinds;
        for t in [
            "tres technicians tres y nadie lo arregla",
            "cada mes lo mismo cada mes",
            "llevo desde octubre con esto, desde octubre, y estamos en enero",
            "me pasaron con cuatro personas distintas hoy, cuatro",
        ] {
            assert!(kinds(t).contains(&Kind::Echo), "{t}");
        }
        for t in [
            "el número es cuatro cinco cuatro",
            "bueno bueno ya está",
            "la la factura de este mes",
            "quiero la factura de marzo y la factura de abril",
        ] {
            assert!(!kinds(t).contains(&Kind::Echo), "{t}");
        }
    }

    #[test]
    fn rhetorical() {
        assert_eq!(
            kinds("usted sabe lo que es estar sin luz"),
            [Kind::Rhetorical]
        );
        assert_eq!(kinds("a usted le parece normal"), [Kind::Rhetorical]);
    }
}
