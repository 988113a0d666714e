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
    /// A threat to expose the company or the agent in public: "esto lo subo a twitter con tu
    /// nombre", "los voy a funar en todas las redes", "ya hablé con una periodista de la radio".
    /// The level table counts threats of public exposure as hostility.
    PublicExposure,
    /// A promised time that has passed: "me dijeron el lunes y ya es jueves", "me juraron que el
    /// reembolso estaba el cinco, hoy es veinte y ni luces", "me prometieron veinticuatro horas;
    /// han pasado nueve días".
    BrokenPromise,
    /// The company judged the worst: "sois la peor compañía", "este es el peor servicio del
    /// mundo", "son lo peor", "ustedes son peores que…": contempt aimed at the company.
    Worst,
    /// The agent's competence mocked, without an insult word: "¿tú sabes leer?", "¿usted
    /// entiende español?", "le pagan por no resolver nada", "¿trabaja ahí o está de adorno?",
    /// "¿te contrataron ayer?", "no entienden nada". An insult at the agent: hostility.
    Taunt,
    /// The customer gives up: "haz lo que puedas, yo no espero nada", "cóbrame lo que sea",
    /// "ya lo doy por perdido", "tiré la toalla", "esto no va a cambiar nada". Resignation is
    /// frustration (the level table), not calm.
    Resignation,
    /// The customer says they already told it, with any clitics: "ya te lo expliqué", "ya se
    /// lo he dicho", "ya les conté": they are being made to repeat themselves (the agent's
    /// listening, `active_listening`).
    AlreadyTold,
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
            Kind::PublicExposure => "construction/public_exposure".into(),
            Kind::BrokenPromise => "construction/broken_promise".into(),
            Kind::Worst => "construction/worst".into(),
            Kind::Taunt => "construction/competence_taunt".into(),
            Kind::Resignation => "construction/resignation".into(),
            Kind::AlreadyTold => "construction/already_told".into(),
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
            Kind::PublicExposure => "public_exposure",
            Kind::BrokenPromise => "broken_promise",
            Kind::Worst => "worst",
            Kind::Taunt => "competence_taunt",
            Kind::Resignation => "resignation",
            Kind::AlreadyTold => "already_told",
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

/// The folded word at `k`, or "" past either end (`k` may have wrapped below zero).
fn word_at(words: &[String], k: usize) -> &str {
    words.get(k).map(String::as_str).unwrap_or("")
}

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
    public_exposure(words, &mut out);
    broken_promise(words, &mut out);
    worst(words, &mut out);
    if !out.iter().any(|f| f.kind == Kind::Ultimatum) {
        deadline(words, &mut out);
    }
    taunt(words, &mut out);
    resignation(words, &mut out);
    already_told(words, &mut out);
    out
}

/// An adverse fact said plainly, which next to praise makes it irony (`customer::read`): "otra
/// vez", "de nuevo", "otra semana más", "nadie contesta", "respuesta, ninguna", "no anda", "…y
/// nada", "ni luces", "sigue igual" / "mi reclamo igualito", "peor", or a duration spent on
/// something ("un mes pa mandar un correo"). Not "nadie más", "no tengo ninguna prisa", an
/// opening "y nada, …" or a duration still to come ("en dos días le llega").
pub fn adverse_fact(words: &[String]) -> bool {
    let n = words.len();
    let at = |k: usize| word_at(words, k);
    (0..n).any(|i| {
        let w = at(i);
        match w {
            "otra" | "otro" => {
                at(i + 1) == "vez" || (unit_minutes(at(i + 1)).is_some() && at(i + 2) == "mas")
            }
            "nuevo" => i > 0 && at(i - 1) == "de",
            "nadie" => !matches!(at(i + 1), "mas" | "más"),
            // "respuesta, ninguna": closing the turn ("no tengo ninguna prisa" is not it).
            "ninguna" | "ninguno" => i + 1 == n,
            "no" => matches!(
                at(i + 1),
                "anda" | "funciona" | "sirve" | "llega" | "contesta" | "responde" | "arregla"
            ),
            // "mandé la foto, la cédula… y nada" closing the turn; an opening "y nada, que…"
            // is a filler.
            "y" => at(i + 1) == "nada" && i + 2 == n,
            "ni" => matches!(at(i + 1), "luces" | "rastro" | "noticias"),
            "igual" | "igualito" | "igualita" => {
                i + 1 == n || i > 0 && matches!(at(i - 1), "sigue" | "sigo" | "reclamo" | "queja")
            }
            "peor" => true,
            _ => {
                count_word(w).is_some()
                    && unit_minutes(at(i + 1)).is_some()
                    && matches!(at(i + 2), "pa" | "para")
                    && at(i + 3).ends_with('r')
            }
        }
    })
}

/// Social media, where a customer posts: "lo subo a tiktok", "en todas las redes".
const SOCIAL: &[&str] = &[
    "redes",
    "twitter",
    "tiktok",
    "instagram",
    "insta",
    "facebook",
    "face",
    "youtube",
    "reviews",
    "reseñas",
    "resenas",
];
/// The press, whom a customer calls or goes to: "llamo a la radio", "voy a la tele".
const PRESS: &[&str] = &[
    "tele",
    "television",
    "tv",
    "radio",
    "prensa",
    "periodista",
    "periodistas",
    "noticiero",
    "noticias",
    "canal",
    "channel",
    "matinal",
    "diario",
    "periodico",
    "medios",
];
/// Verbs of making something public (stems of the first person or the infinitive, folded):
/// "subo", "cuelgo", "publico", "funo", "escracho", "quemo en redes".
const EXPOSE_VERBS: &[&str] = &[
    "sub", "cuelg", "colg", "public", "pong", "pone", "mont", "poste", "exhib", "expon", "expong",
    "escrach", "fun", "quem", "cuent", "cont", "sac", "ech", "viraliz", "difund",
];
/// Verbs of going to or contacting the press: "llamo a la radio", "ya hablé con una periodista".
const CONTACT_PRESS_VERBS: &[&str] = &[
    "llamo", "llame", "llamar", "llamado", "hable", "hablado", "hablar", "escribi", "escrito",
    "escribir", "mando", "mande", "mandar", "voy", "vamos", "ir", "planto", "llevo", "llevar",
];
/// Words that may stand between a preposition and the medium: "en todas las redes".
fn determiner(w: &str) -> bool {
    matches!(
        w,
        "la" | "el"
            | "las"
            | "los"
            | "todas"
            | "todos"
            | "toda"
            | "todo"
            | "mis"
            | "mi"
            | "un"
            | "una"
            | "unos"
            | "unas"
            | "su"
            | "sus"
    )
}

/// A threat of public exposure ([`Kind::PublicExposure`]): a verb of making public, framed as the
/// customer's own act (a first-person form, an object pronoun or "esto"/"todo" next to it, or
/// "voy a" before an infinitive), then within seven words a preposition and a social medium or
/// the press; or a verb of contacting the press followed by it ("llamo a la radio"). "se me
/// quemó la tele", "lo vi en instagram" and "ingeniero de redes" have no such frame.
fn public_exposure(words: &[String], out: &mut Vec<Found>) {
    let n = words.len();
    let medium_at = |from: usize, to: usize, lists: &[&[&str]]| {
        (from..to.min(n)).find(|&k| {
            lists.iter().any(|l| l.contains(&words[k].as_str()))
                && (1..=3).any(|back| {
                    k >= back
                        && matches!(words[k - back].as_str(), "en" | "a" | "al" | "con")
                        && words[k - back + 1..k].iter().all(|w| determiner(w))
                })
        })
    };
    let object = |k: usize| {
        words
            .get(k)
            .is_some_and(|x| matches!(x.as_str(), "lo" | "la" | "los" | "las" | "les" | "os"))
    };
    let this = |k: usize| {
        words
            .get(k)
            .is_some_and(|x| matches!(x.as_str(), "esto" | "todo" | "eso"))
    };
    for i in 0..n {
        let w = words[i].as_str();
        let first_person = w.ends_with('o') || w.ends_with('e') || w.ends_with('i');
        // "esto lo subo", "lo cuelgo", "publico todo": the customer's own act.
        let own_act = w.len() <= 10
            && first_person
            && ((i > 0 && (object(i - 1) || this(i - 1))) || this(i + 1));
        // "los voy a funar", "voy a poner esto".
        let announced = w.ends_with('r')
            && (1..=4).any(|b| i >= b && matches!(words[i - b].as_str(), "voy" | "vamos"));
        if EXPOSE_VERBS.iter().any(|v| w.starts_with(v)) && (own_act || announced) {
            if let Some(k) = medium_at(i + 1, i + 8, &[SOCIAL, PRESS]) {
                out.push(Found {
                    kind: Kind::PublicExposure,
                    first: i,
                    last: k,
                });
                return;
            }
        }
        if CONTACT_PRESS_VERBS.contains(&w) {
            if let Some(k) = medium_at(i + 1, i + 5, &[PRESS]) {
                out.push(Found {
                    kind: Kind::PublicExposure,
                    first: i,
                    last: k,
                });
                return;
            }
        }
    }
}

/// Verbs of a promise made to the customer: "me dijeron", "me prometieron", "quedaron en".
const PROMISE_VERBS: &[&str] = &[
    "dijeron",
    "dijo",
    "prometieron",
    "prometio",
    "aseguraron",
    "aseguro",
    "juraron",
    "juro",
    "quedaron",
    "quedamos",
    "confirmaron",
    "confirmo",
    "garantizaron",
    "dijiste",
];
const WEEKDAYS: &[&str] = &[
    "lunes",
    "martes",
    "miercoles",
    "jueves",
    "viernes",
    "sabado",
    "domingo",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
];
const MONTHS: &[&str] = &[
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "setiembre",
    "octubre",
    "noviembre",
    "diciembre",
];

/// A word that names when something was due: a weekday, a month, "ayer", "hoy", a day of the
/// month ("el quince"), or a count of hours, days or weeks ("en setenta y dos horas").
fn due_word(words: &[String], k: usize) -> bool {
    let w = words[k].as_str();
    WEEKDAYS.contains(&w)
        || MONTHS.contains(&w)
        || matches!(
            w,
            "ayer" | "hoy" | "horas" | "dias" | "semanas" | "semana" | "habiles"
        )
        || (k > 0 && words[k - 1] == "el" && count_word(w).is_some_and(|d| (1..=31).contains(&d)))
}

/// What says the time has passed with nothing done: "y ya es jueves", "hoy es veinte", "estamos
/// a 20", "han pasado nueve días", "ya van doce", "hace tres semanas", "y nada", "y ni luces",
/// "y nunca llegó", "y sigo igual", "y nadie".
fn passed_at(words: &[String], k: usize) -> bool {
    let w = words[k].as_str();
    let next = |d: usize| words.get(k + d).map(String::as_str).unwrap_or("");
    match w {
        "hoy" => matches!(next(1), "es" | "estamos" | "ya"),
        "ya" => matches!(
            next(1),
            "es" | "son" | "estamos" | "pasaron" | "paso" | "van" | "vamos" | "llevo" | "han"
        ),
        "estamos" => matches!(next(1), "a" | "en"),
        "han" | "pasaron" => matches!(next(1), "pasado" | "pasaron") || w == "pasaron",
        "hace" => count_word(next(1)).is_some(),
        "y" => {
            matches!(
                next(1),
                "nada" | "nunca" | "nadie" | "sigo" | "sigue" | "seguimos" | "ni"
            ) || (next(1) == "todavia" && next(2) == "nada")
        }
        "ni" => matches!(next(1), "luces" | "rastro" | "noticias" | "pio"),
        "hasta" => matches!(next(1), "ahora" | "ahorita" | "hoy") && next(2) == "nada",
        _ => false,
    }
}

/// A broken promise ([`Kind::BrokenPromise`]): a verb of promising, within eight words a time it
/// was due, and within twelve more words the time passing with nothing done.
fn broken_promise(words: &[String], out: &mut Vec<Found>) {
    let n = words.len();
    for i in 0..n {
        if !PROMISE_VERBS.contains(&words[i].as_str()) {
            continue;
        }
        let Some(due) = (i + 1..(i + 9).min(n)).find(|&k| due_word(words, k)) else {
            continue;
        };
        if let Some(k) = (due + 1..(due + 13).min(n)).find(|&k| passed_at(words, k)) {
            out.push(Found {
                kind: Kind::BrokenPromise,
                first: i,
                last: (k + 1).min(n - 1),
            });
            return;
        }
    }
}

/// Nouns for the company and what it sells: "la peor compañía", "el peor servicio".
const COMPANY_NOUNS: &[&str] = &[
    "compañia",
    "compania",
    "company",
    "empresa",
    "servicio",
    "atencion",
    "banco",
    "aerolinea",
    "aseguradora",
    "operador",
    "operadora",
    "proveedor",
];

/// The company judged the worst ([`Kind::Worst`]): a copula ("son", "sois", "es", "eres") then
/// "el/la/lo/los/las peor(es)", "son peores", or "el/la peor" + a word for the company. "lo peor
/// es que…" (the situation) and "es peor que…" (a comparison of the situation) are not it.
fn worst(words: &[String], out: &mut Vec<Found>) {
    let n = words.len();
    for i in 0..n {
        if !matches!(words[i].as_str(), "peor" | "peores") {
            continue;
        }
        let before = |d: usize| i.checked_sub(d).map(|k| words[k].as_str()).unwrap_or("");
        let after = words.get(i + 1).map(String::as_str).unwrap_or("");
        // "mi viejo dice que ustedes son peores que la afip": someone else's verdict.
        let reported = (2..=7).any(|d| matches!(before(d), "dice" | "dicen" | "dijo" | "decia"));
        let article = matches!(before(1), "el" | "la" | "lo" | "los" | "las");
        let copula = |w: &str| matches!(w, "son" | "sois" | "es" | "eres" | "sos");
        let plural_copula = |w: &str| matches!(w, "son" | "sois");
        let hit = (article && copula(before(2)))
            || (plural_copula(before(1)) && words[i] == "peores")
            || (article && before(1) != "lo" && COMPANY_NOUNS.contains(&after));
        if hit && !reported {
            out.push(Found {
                kind: Kind::Worst,
                first: i.saturating_sub(2),
                last: (i + 1).min(n - 1),
            });
            return;
        }
    }
}

/// Pronouns of the agent or the company as object ("le pagan", "os pagan", "te enseñaron").
const YOU_OBJECT: &[&str] = &["le", "te", "os", "les", "lo", "la", "los", "las"];
/// The indirect-object ones: to whom something is taught or given ("te enseñaron", "le doy").
const YOU_DATIVE: &[&str] = &["le", "te", "os", "les"];
/// Second-person (or usted/ustedes) forms of knowing, understanding and speaking.
const YOU_KNOW: &[&str] = &["sabe", "sabes", "sabeis", "saben", "sabés"];
const YOU_UNDERSTAND: &[&str] = &[
    "entiende",
    "entiendes",
    "entendes",
    "entienden",
    "entendeis",
    "habla",
    "hablas",
    "hablan",
    "hablais",
];
/// What a competent person can do, mocked as beyond the agent.
const BASIC_SKILLS: &[&str] = &["leer", "escuchar", "escribir", "sumar", "contar", "oir"];

/// The agent's competence mocked ([`Kind::Taunt`]). Each form names the agent or the company
/// (a second-person verb or object pronoun): "yo no entiendo nada" is about the customer.
fn taunt(words: &[String], out: &mut Vec<Found>) {
    let n = words.len();
    let at = |k: usize| word_at(words, k);
    // A second-person form, or a third-person one with "usted(es)" just before it.
    let you = |i: usize, w: &str| {
        !(w.ends_with('e') || w.ends_with('n'))
            || (i.saturating_sub(3)..i).any(|k| matches!(at(k), "usted" | "ustedes"))
    };
    for i in 0..n {
        let w = at(i);
        let found = match w {
            // "le pagan por no resolver nada", "os pagan por colgar a la gente".
            // An infinitive after it: "le pagan por quincena" is payroll.
            "pagan" => {
                YOU_OBJECT.contains(&at(i.wrapping_sub(1)))
                    && at(i + 1) == "por"
                    && (at(i + 2) == "no"
                        || ["ar", "er", "ir"].iter().any(|e| at(i + 2).ends_with(e)))
            }
            // "¿te enseñaron a decir algo más que…?", "¿le enseñan a colgar?".
            "enseñaron" | "enseñan" | "ensenaron" | "ensenan" => {
                YOU_DATIVE.contains(&at(i.wrapping_sub(1))) && at(i + 1) == "a"
            }
            // "¿te contrataron ayer?", "¿lo contrataron esta mañana?".
            "contrataron" => {
                YOU_OBJECT.contains(&at(i.wrapping_sub(1)))
                    && matches!(at(i + 1), "ayer" | "hoy" | "esta")
            }
            // "¿usted sabe leer?", "¿sabés escuchar?"; "mi mamá no sabe leer" is hers.
            _ if YOU_KNOW.contains(&w) => BASIC_SKILLS.contains(&at(i + 1)) && you(i, w),
            // "¿usted entiende español?", "no entienden nada"; "mi mamá no habla español".
            _ if YOU_UNDERSTAND.contains(&w) => {
                (matches!(at(i + 1), "español" | "espanol" | "castellano") && you(i, w))
                    || (at(i + 1) == "nada"
                        && at(i.wrapping_sub(1)) == "no"
                        && w != "entiende"
                        && w.starts_with("ent"))
            }
            // "¿te entrenaron o te soltaron ahí?".
            "entrenaron" | "capacitaron" => YOU_DATIVE.contains(&at(i.wrapping_sub(1))),
            // "¿te lo tengo que explicar con dibujitos?", "o te hago un dibujito".
            "dibujitos" | "dibujito" | "muñequitos" | "munequitos" | "monitos" | "plastilina" => {
                matches!(at(i.wrapping_sub(1)), "con" | "un")
            }
            // "¿trabaja ahí o está de adorno?".
            "adorno" => {
                at(i.wrapping_sub(1)) == "de"
                    && matches!(at(i.wrapping_sub(2)), "esta" | "estas" | "estan" | "estais")
            }
            // "¿es tu primer día?".
            "primer" => {
                at(i + 1) == "dia"
                    && matches!(at(i.wrapping_sub(1)), "tu" | "su")
                    && matches!(at(i.wrapping_sub(2)), "es" | "sera")
            }
            _ => false,
        };
        if found {
            out.push(Found {
                kind: Kind::Taunt,
                first: i.saturating_sub(1),
                last: (i + 1).min(n - 1),
            });
            return;
        }
    }
}

/// Imperatives handing the case over ("haz lo que puedas", "hagan lo que quieran").
const HAND_OVER: &[&str] = &["haz", "haga", "hace", "hagan", "hagame", "hazme", "hace"];
const CAN_OR_WANT: &[&str] = &[
    "puedas", "pueda", "puedan", "quieras", "quiera", "quieran", "tengas", "tenga", "tengan", "sea",
];
/// Imperatives of charging ("cóbrame lo que sea").
const CHARGE_ME: &[&str] = &[
    "cobrame", "cobreme", "cobradme", "cobrenme", "cobren", "cobra", "cobre",
];

/// Object and indirect-object clitics between "ya" and the verb ("ya se lo", "ya te la").
const CLITICS: &[&str] = &[
    "me", "te", "le", "les", "se", "lo", "la", "los", "las", "nos", "os",
];
/// First-person past forms of telling, folded: what a customer already said.
const TOLD: &[&str] = &[
    "dije", "explique", "comente", "conte", "repeti", "mencione", "aclare", "indique", "detalle",
    "deletree",
];
/// Their participles, after "he" or "hemos" ("había" is the third person too: "el técnico dijo
/// que ya lo había reportado" is a story).
const TOLD_PARTICIPLE: &[&str] = &[
    "dicho",
    "explicado",
    "comentado",
    "contado",
    "repetido",
    "mencionado",
    "aclarado",
    "indicado",
    "detallado",
];

/// "Ya" + clitics + a first-person past of telling: "ya te lo expliqué", "ya se lo he
/// dicho", "ya les conté lo del cobro". Not "ya le digo" (present: "I'll tell you now"), "ya le
/// paso" or "ya lo veo"; giving ("ya le di el número") is the lexicon's, weaker; doing ("sí, ya
/// lo reinicié") is most often the answer to "¿ya probó reiniciarlo?", not a complaint.
fn already_told(words: &[String], out: &mut Vec<Found>) {
    let at = |k: usize| word_at(words, k);
    for i in (0..words.len()).filter(|&i| at(i) == "ya") {
        let mut k = i + 1;
        let mut clitics = 0;
        while clitics < 2 && CLITICS.contains(&at(k)) {
            clitics += 1;
            k += 1;
        }
        let aux = matches!(at(k), "he" | "hemos");
        let verb = if aux { at(k + 1) } else { at(k) };
        let told = if aux {
            TOLD_PARTICIPLE.contains(&verb)
        } else {
            TOLD.contains(&verb)
        };
        if told {
            out.push(Found {
                kind: Kind::AlreadyTold,
                first: i,
                last: if aux { k + 1 } else { k },
            });
        }
    }
}

/// The customer gives up ([`Kind::Resignation`]).
fn resignation(words: &[String], out: &mut Vec<Found>) {
    let n = words.len();
    let at = |k: usize| word_at(words, k);
    for i in 0..n {
        let w = at(i);
        let span = if (HAND_OVER.contains(&w) || CHARGE_ME.contains(&w))
            && at(i + 1) == "lo"
            && at(i + 2) == "que"
            && CAN_OR_WANT.contains(&at(i + 3))
            && (HAND_OVER.contains(&w) || matches!(at(i + 3), "sea" | "quieras" | "quiera"))
            // "haz lo que puedas por mí" is a plea.
            && !matches!(at(i + 4), "por" | "para")
        {
            Some(i + 3)
        } else if w == "espero" && at(i + 1) == "nada" && at(i.wrapping_sub(1)) == "no" {
            // "no espero nada", "ya no espero nada de ustedes".
            Some(i + 1)
        } else if matches!(w, "doy" | "di" | "damos")
            && at(i + 1) == "por"
            && at(i + 2).starts_with("perdid")
        {
            Some(i + 2)
        } else if w == "esperanza"
            && matches!(at(i.wrapping_sub(2)), "perdi" | "perdido" | "perdimos")
            || w == "toalla" && matches!(at(i.wrapping_sub(2)), "tire" | "tiro" | "tiramos")
            || matches!(w, "rindo" | "rendi") && at(i.wrapping_sub(1)) == "me"
        {
            // "perdí la esperanza", "tiré la toalla", "ya me rendí".
            Some(i)
        } else if w == "nada"
            && (at(i.wrapping_sub(1)) == "cambiar" && at(i.wrapping_sub(3)) == "va"
                || at(i.wrapping_sub(1)) == "de"
                    && matches!(at(i.wrapping_sub(2)), "sirve" | "servir")
                    && (i.saturating_sub(5)..i).any(|k| at(k) == "no"))
        {
            // "no va a cambiar nada", "no sirve de nada llamar".
            Some(i)
        } else {
            None
        };
        if let Some(last) = span {
            out.push(Found {
                kind: Kind::Resignation,
                first: i.saturating_sub(2),
                last,
            });
            return;
        }
    }
}

/// A day or a moment a deadline runs to, after "hasta" ("hasta el viernes", "hasta las cinco").
const DEADLINE_DAYS: &[&str] = &[
    "hoy",
    "mañana",
    "manana",
    "lunes",
    "martes",
    "miercoles",
    "jueves",
    "viernes",
    "sabado",
    "domingo",
    "mediodia",
    "fin",
    "final",
    "las",
    "la",
    "esta",
    "este",
];
/// A span a deadline lasts ("le doy veinticuatro horas", "les doy una semana").
const DEADLINE_SPANS: &[&str] = &[
    "horas", "hora", "dias", "dia", "semana", "semanas", "minutos", "plazo",
];

/// A deadline the customer sets the company — "le doy veinticuatro horas", "tienen hasta el
/// viernes", "les doy hasta mañana" — is an ultimatum, however calmly it is said. "Le doy algo
/// para la fiebre" gives no time.
fn deadline(words: &[String], out: &mut Vec<Found>) {
    let n = words.len();
    let at = |k: usize| word_at(words, k);
    let until = |k: usize| {
        (at(k) == "hasta")
            .then(|| (k + 1..n.min(k + 4)).find(|&j| DEADLINE_DAYS.contains(&at(j))))
            .flatten()
    };
    for i in 0..n {
        let end = if at(i) == "doy" && YOU_DATIVE.contains(&at(i.wrapping_sub(1))) {
            until(i + 1).or_else(|| {
                (i + 1..n.min(i + 4))
                    .take_while(|&j| {
                        super::lexicon::is_number_word(at(j))
                            || matches!(at(j), "un" | "una" | "otro" | "otra")
                            || DEADLINE_SPANS.contains(&at(j))
                    })
                    .find(|&j| DEADLINE_SPANS.contains(&at(j)))
            })
        } else if matches!(at(i), "tiene" | "tienen" | "tenes" | "tienes" | "teneis")
            // "la tienda tiene hasta las ocho" is a third party's hours.
            && !matches!(at(i.wrapping_sub(1)), "tienda" | "oficina" | "sucursal")
        {
            until(i + 1)
        } else {
            None
        };
        if let Some(end) = end {
            out.push(Found {
                kind: Kind::Ultimatum,
                first: i.saturating_sub(1),
                last: end,
            });
            return;
        }
    }
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
    // "si no tengo el pasaporte no voy a poder ir a la boda": a negated "voy a" is what the
    // customer will not be able to do (distress), not what they will do to the company; "no voy
    // a pagar" stays a threat.
    let cannot = |j: usize, s: &[&str]| {
        j > 0
            && words[j - 1] == "no"
            && matches!(s, ["voy", "a"] | ["vamos", "a"])
            && !matches!(word_at(words, j + 2), "pagar" | "seguir" | "volver")
    };
    let threat_after = |from: usize, to: usize| {
        (from..to.min(n)).find_map(|j| {
            THREAT_STARTS
                .iter()
                .find(|s| starts_with(words, j, s) && !asks(j) && !cannot(j, s))
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
        let negation = (i + 1..n.min(i + 6)).find(|&j| conditional && words[j] == "no");
        if let Some(neg) = negation {
            // The threat comes after the negated condition, not in its place: "si pago todo de
            // una, no pago interés" states a rule; its "no pago" is no threat.
            if let Some(end) = threat_after((i + 3).max(neg + 2), i + 18) {
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
    fn what_the_customer_will_not_be_able_to_do_is_no_threat() {
        assert!(
            kinds("si no tengo el pasaporte no voy a poder ir a la boda de mi hija").is_empty()
        );
        assert!(kinds("si no me llega hoy no vamos a poder abrir la tienda").is_empty());
        assert_eq!(
            kinds("si no me devuelven el cobro no voy a pagar la factura"),
            [Kind::Condition]
        );
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
        // A rule restated, whose negation is the consequence: no threat.
        assert!(kinds("ah ok o sea si pago todo de una no pago interes").is_empty());
        assert_eq!(
            kinds("si no me lo arreglan no pago la factura"),
            [Kind::Condition]
        );
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

    /// `kind` is found in every turn of `yes` and in none of `no` (read by `read`).
    fn finds(read: fn(&str) -> Vec<Kind>, kind: Kind, yes: &[&str], no: &[&str]) {
        for t in yes {
            assert!(read(t).contains(&kind), "{kind:?} not found in {t:?}");
        }
        for t in no {
            assert!(!read(t).contains(&kind), "{kind:?} found in {t:?}");
        }
    }

    #[test]
    fn counted_failure() {
        finds(
            kinds,
            Kind::CountedFailure,
            &[
                "tres técnicos y nadie lo arregla",
                "me han dado cuatro números de reclamo y ninguno ha servido",
            ],
            &[
                "tengo dos preguntas y nada más",
                "es el cuatro cinco y nada",
            ],
        );
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
        finds(
            analyzed_kinds,
            Kind::Echo,
            &[
                "tres technicians tres y nadie lo arregla",
                "cada mes lo mismo cada mes",
                "llevo desde octubre con esto, desde octubre, y estamos en enero",
                "me pasaron con cuatro personas distintas hoy, cuatro",
            ],
            &[
                "el número es cuatro cinco cuatro",
                "bueno bueno ya está",
                "la la factura de este mes",
                "quiero la factura de marzo y la factura de abril",
            ],
        );
    }

    #[test]
    fn rhetorical() {
        assert_eq!(
            kinds("usted sabe lo que es estar sin luz"),
            [Kind::Rhetorical]
        );
        assert_eq!(kinds("a usted le parece normal"), [Kind::Rhetorical]);
    }

    #[test]
    fn competence_taunts_aimed_at_the_agent_not_the_customers_own_doubts() {
        finds(
            analyzed_kinds,
            Kind::Taunt,
            &[
                "¿pero tú sabes leer? te lo he deletreado tres veces",
                "usted entiende español o le tengo que hablar más despacito",
                "le pagan por no resolver nada o lo hace gratis",
                "seguro que os pagan por colgar a la gente",
                "usted trabaja ahí o está de adorno",
                "¿te contrataron ayer?",
                "con ustedes uno necesita un traductor porque no entienden nada",
                "tu entiendes lo que te digo o te lo hago con dibujitos",
                "a ti te entrenaron o te soltaron ahí",
            ],
            &[
                "yo no entiendo nada de facturas, perdone",
                "mi mamá no sabe leer, por eso llamo yo",
                "le pagan por quincena a mi hijo",
                "el técnico no entiende nada, dice mi vecino",
                "¿habla inglés alguien ahí?",
            ],
        );
    }

    #[test]
    fn resignation_is_giving_up_not_calm() {
        finds(
            analyzed_kinds,
            Kind::Resignation,
            &[
                "mira haz lo que puedas que yo no espero nada",
                "bueno cóbrame lo que sea",
                "ta dejalo ya lo doy por perdido",
                "ya tiré la toalla pana",
                "con ustedes ya perdí la esperanza",
                "esto no va a cambiar nada",
                "no sirve de nada que llame",
            ],
            &[
                "haz lo que puedas por mí, te lo agradezco, es urgente",
                "espero nada más la confirmación",
                "perdí la tarjeta y quiero bloquearla",
                "no quiero cambiar nada del plan",
            ],
        );
    }

    #[test]
    fn already_told_in_any_clitic_order_is_a_repetition_not_a_present_or_a_story() {
        finds(
            analyzed_kinds,
            Kind::AlreadyTold,
            &[
                "ya te lo expliqué la luz queda roja igual",
                "ya se lo he dicho dos veces",
                "pero si ya les conté lo del cobro",
                "ya le comenté a su compañera",
                "ya te lo dije flaco",
            ],
            &[
                "ya le digo el número",
                "sí ya lo reinicié esta mañana",
                "el técnico dijo que ya lo había reportado",
                "ya le paso el dato",
                "ya lo veo gracias",
            ],
        );
    }

    #[test]
    fn deadlines_set_to_the_company_are_ultimatums() {
        finds(
            analyzed_kinds,
            Kind::Ultimatum,
            &[
                "le doy veinticuatro horas, si no veo el reembolso voy al banco",
                "tienen hasta el viernes, después nos vemos en el juzgado",
                "les doy hasta mañana a las doce",
                "les doy una semana",
            ],
            &[
                "le doy algo para la fiebre mientras tanto",
                "le doy las gracias por todo",
                "tengo hasta el viernes para pagar",
                "la tienda tiene hasta las ocho abierto",
            ],
        );
    }

    #[test]
    fn public_exposure_threats_but_not_media_in_passing() {
        finds(
            kinds,
            Kind::PublicExposure,
            &[
                "esto lo subo a twitter con tu nombre",
                "los voy a funar en todas las redes",
                "ya he hablado con una periodista de la radio",
                "voy a llamar a la tele y al noticiero",
                "esto lo publico en facebook con su nombre",
            ],
            &[
                "se me quemo la tele",
                "lo vi en instagram",
                "yo soy ingeniero de redes",
                "no se como ponerla en la tele",
                "voy a ver el partido en la tele",
            ],
        );
    }

    #[test]
    fn broken_promises_need_the_time_to_have_passed() {
        finds(
            kinds,
            Kind::BrokenPromise,
            &[
                "me dijeron el lunes y ya es jueves",
                "me juraron que el reembolso estaba el cinco hoy es veinte y ni luces",
                "me prometieron un callback en veinticuatro horas y ya pasaron diez dias",
                "quedaron en llamarme el lunes hoy es jueves",
            ],
            &[
                "me dijeron que el lunes viene el tecnico",
                "me dijeron otra cosa",
            ],
        );
    }

    #[test]
    fn the_company_judged_the_worst() {
        finds(
            kinds,
            Kind::Worst,
            &[
                "sois la peor compania con la que he tratado",
                "este es el peor servicio del mundo",
                "son lo peor",
                "ustedes son peores que los flaites",
            ],
            &[
                "lo peor es que no tengo luz",
                "es peor que bregar con el irs",
                "mi viejo dice que ustedes son peores que la afip",
            ],
        );
    }

    #[test]
    fn adverse_facts_that_turn_praise_into_irony() {
        let w = |t: &str| t.split_whitespace().map(String::from).collect::<Vec<_>>();
        for t in [
            "que rapidez un mes pa mandar un correo",
            "genial otra vez sin luz",
            "que amable el bot porque respuesta ninguna",
            "mande la foto la cedula el recibo y nada",
            "mira que bueno otra promocion y mi reclamo igualito",
        ] {
            assert!(adverse_fact(&w(t)), "{t}");
        }
        for t in [
            "perfecto no tengo ninguna prisa",
            "y nada que pasada funciona genial",
            "perfecto en dos dias me llega",
            "genial nadie mas usa la linea",
        ] {
            assert!(!adverse_fact(&w(t)), "{t}");
        }
    }
}
