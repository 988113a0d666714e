//! The agent's side of one segment: empathy, ownership, paraphrase, empty stock phrases, concrete
//! next steps, transfers (and whether they say who and why), holds, limits on abuse.

use super::lexicon::{Cat, LexiconFile};
use super::{Analysis, Hit};

/// Acknowledgement words that are empty on their own ("entiendo", "comprendo", "ya veo").
const ACK_HEADS: &[&str] = &["entiendo", "comprendo", "entendido", "veo"];
/// Words that may come with a bare acknowledgement without adding anything about the customer's
/// case ("sí, claro, le entiendo, señora").
const ACK_COMPANIONS: &[&str] = &[
    "si",
    "claro",
    "ya",
    "vale",
    "ok",
    "okay",
    "bueno",
    "bien",
    "le",
    "lo",
    "te",
    "la",
    "perfectamente",
    "perfecto",
    "senor",
    "senora",
    "senorita",
    "señor",
    "señora",
    "señorita",
    "don",
    "dona",
    "doña",
    "muy",
    "de",
    "acuerdo",
    "aja",
    "mhm",
    "eh",
    "pues",
    "entonces",
    "y",
    "por",
    "supuesto",
    "totalmente",
    "comprendo",
    "entiendo",
    "entendido",
    "veo",
];

/// What an agent asks for to identify the customer or their case ("¿me da su DNI?", "¿el número
/// de contrato?", "me pasas el código del reclamo").
const ID_NOUNS: &[&str] = &[
    "dni",
    "nie",
    "rut",
    "cedula",
    "curp",
    "rfc",
    "cuit",
    "cuil",
    "nit",
    "ine",
    "pasaporte",
    "poliza",
    "contrato",
    "cuenta",
    "pedido",
    "guia",
    "tracking",
    "folio",
    "expediente",
    "matricula",
    "placa",
    "titular",
    "numero",
    "codigo",
    "referencia",
    "nombre",
    "direccion",
    "correo",
    "email",
    "telefono",
    "celular",
    "documento",
    "identificacion",
    "reclamo",
    "orden",
    "localizador",
];
/// Words that make a short segment a request to the customer ("me da…", "me indica…").
const REQUEST_WORDS: &[&str] = &[
    "da",
    "das",
    "dice",
    "dices",
    "decis",
    "indica",
    "indicas",
    "pasa",
    "pasas",
    "regala",
    "facilita",
    "confirma",
    "confirmas",
    "dar",
    "decir",
    "indicar",
    "facilitar",
    "proporciona",
    "digame",
    "dime",
    "indiqueme",
    "regaleme",
    "favor",
];
/// A request for identification is at most this long.
const DATA_REQUEST_MAX_WORDS: usize = 12;

/// A transfer announcement and what came with it.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub hit: Hit,
    /// Names who will take the call ("el departamento de facturación", "mi supervisora").
    pub target: Option<Hit>,
    /// Names nobody in particular ("otro departamento").
    pub vague: Option<Hit>,
    /// Says why ("porque", "para que").
    pub reason: Option<Hit>,
}

impl Transfer {
    /// Who and why were both said.
    pub fn owned(&self) -> bool {
        self.target.is_some() && self.vague.is_none() && self.reason.is_some()
    }
}

/// What one agent segment does.
#[derive(Debug, Clone, Default)]
pub struct AgentReading {
    pub empathy: Option<Hit>,
    pub ownership: Option<Hit>,
    pub paraphrase: Option<Hit>,
    pub boundary: Option<Hit>,
    pub escalation_offer: Option<Hit>,
    /// Stock phrases: rote acknowledgements (`EmptyEmpathy`), deflections, vague promises.
    pub stock: Vec<Hit>,
    /// A commitment ("le llamo", "le envío").
    pub action: Option<Hit>,
    /// A time ("mañana antes de las doce") or reference ("número de incidencia").
    pub anchor: Option<Hit>,
    pub transfer: Option<Transfer>,
    pub hold: Option<Hit>,
    /// A named department or person anywhere in the segment (completes an earlier transfer).
    pub target: Option<Hit>,
    /// A reason anywhere in the segment.
    pub reason: Option<Hit>,
    /// Words beyond stock phrases and backchannels: the agent said something of substance.
    pub substantive_words: usize,
    /// An evaluative frame ("eso es muy duro", "qué faena", "sin poder…"): empathy when it is
    /// about the customer's own situation (the rules check that against their recent words).
    pub validation: Option<Hit>,
    /// The whole answer is a bare acknowledgement ("entiendo", "sí, claro, comprendo").
    pub rote_ack: Option<Hit>,
    /// A short request for the customer's ID or case number ("¿me da su DNI, por favor?").
    pub data_request: bool,
    /// Blames the customer, minimises what happened or changes the subject.
    pub dismissal: Option<Hit>,
    /// Names an identifier at all ("con la placa me sirve, nombre del tomador"): collecting
    /// data, whatever else it shares with the customer's words.
    pub mentions_id: bool,
}

impl AgentReading {
    /// Action plus when/reference in the same segment.
    pub fn next_step(&self) -> Option<(&Hit, &Hit)> {
        Some((self.action.as_ref()?, self.anchor.as_ref()?))
    }
}

pub fn read(a: &Analysis) -> AgentReading {
    let words = plain_words(&a.folded);
    let pick = |c: Cat| a.first(c).cloned();
    let mut stock: Vec<Hit> = a
        .hits
        .iter()
        .filter(|h| matches!(h.cat, Cat::Stock | Cat::EmptyEmpathy) && !h.negated)
        .cloned()
        .collect();
    for h in a.all(Cat::FeelingNoun) {
        if let Some(f) = generic_acknowledgement(&words, h) {
            if !stock.iter().any(|s| s.first <= f.last && f.first <= s.last) {
                stock.push(f);
            }
        }
    }
    // An empathy frame whose object is a formula or a generic noun ("le pido disculpas por las
    // molestias ocasionadas", "lamento mucho lo sucedido") names nothing of the customer's: it is
    // one more formula.
    let mut empathy = None;
    for h in a.all(Cat::Empathy) {
        if rote_object(&words, h.last + 1, &stock, a) {
            let mut rote = h.clone();
            rote.cat = Cat::EmptyEmpathy;
            stock.push(rote);
        } else if empathy.is_none() {
            empathy = Some(h.clone());
        }
    }
    stock.extend(formula_only_answer(&words, &stock));
    // Said in the agent's own words: "es lógico que estés quemado", "eso da coraje", "a
    // cualquiera le molestaría" (empathy whatever else the answer shares with the customer's
    // words); "uy, con su negocio de postres…" (a frame, empathy when it reflects their facts).
    let (own_empathy, own_validation) = acknowledgement_frame(&words);
    if empathy.is_none() {
        empathy = own_empathy;
    }
    let stock_words: usize = stock.iter().map(|h| h.last + 1 - h.first).sum();
    let transfer = pick(Cat::Transfer).map(|hit| Transfer {
        target: a
            .all(Cat::Target)
            .find(|t| t.first > hit.last)
            .cloned()
            .or_else(|| pick(Cat::EscalationOffer).filter(|e| e.first >= hit.first))
            .or_else(|| named_after(&words, hit.last)),
        vague: a
            .all(Cat::VagueTarget)
            .find(|t| t.first > hit.last)
            .cloned(),
        reason: a
            .all(Cat::Reason)
            .find(|t| t.first > hit.last)
            .cloned()
            .or_else(|| purpose_after(&words, hit.last)),
        hit,
    });
    AgentReading {
        empathy,
        ownership: pick(Cat::Ownership),
        paraphrase: pick(Cat::Paraphrase),
        boundary: pick(Cat::Boundary),
        escalation_offer: pick(Cat::EscalationOffer),
        substantive_words: a.words.saturating_sub(stock_words),
        stock,
        action: pick(Cat::Action).or_else(|| commitment(&words)),
        anchor: pick(Cat::When).or_else(|| pick(Cat::Reference)),
        transfer,
        hold: pick(Cat::Hold).or_else(|| pick(Cat::FormalHold)),
        target: pick(Cat::Target),
        reason: pick(Cat::Reason),
        validation: pick(Cat::Validation).or(own_validation),
        rote_ack: rote_ack(a),
        data_request: data_request(a),
        dismissal: pick(Cat::Dismissal).or_else(|| blame(&words)),
        mentions_id: a.folded.iter().any(|w| {
            let w = w
                .trim_matches(|c: char| !c.is_alphanumeric())
                .replace('ñ', "n");
            ID_NOUNS.contains(&w.as_str())
        }),
    }
}

/// "¿Me da su DNI?", "me pasas el código del reclamo", "¿a nombre de quién está el servicio?":
/// identification, asked in a few words.
fn data_request(a: &Analysis) -> bool {
    let words: Vec<&str> = a
        .folded
        .iter()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
        .collect();
    let plain = |w: &str| crate::language::normalize::fold(w).replace('ñ', "n");
    words.len() <= DATA_REQUEST_MAX_WORDS
        && words.iter().any(|w| ID_NOUNS.contains(&plain(w).as_str()))
        && (a.question
            || words
                .iter()
                .any(|w| REQUEST_WORDS.contains(&plain(w).as_str())))
}

/// "Entiendo." / "Sí, claro, comprendo." and nothing else: acknowledgement without content.
fn rote_ack(a: &Analysis) -> Option<Hit> {
    let words: Vec<(usize, &str)> = a
        .folded
        .iter()
        .enumerate()
        .map(|(i, w)| (i, w.as_str()))
        .filter(|(_, w)| w.chars().any(char::is_alphanumeric))
        .collect();
    let (i, head) = words.iter().copied().find(|(_, w)| ACK_HEADS.contains(w))?;
    if head == "veo" && !words.iter().any(|(_, w)| *w == "ya") {
        return None;
    }
    if !words.iter().all(|(_, w)| ACK_COMPANIONS.contains(w)) {
        return None;
    }
    Some(Hit {
        file: LexiconFile::AgentStock,
        cat: Cat::EmptyEmpathy,
        term: head.to_string(),
        weight: 0.5,
        intensity: 1.0,
        negated: false,
        quote: words.iter().map(|(_, w)| *w).collect::<Vec<_>>().join(" "),
        first: i,
        last: i,
    })
}

/// Apologies said as courtesy, with no object ("disculpe usted", "perdone").
const BARE_APOLOGIES: &[&str] = &[
    "disculpe",
    "disculpa",
    "disculpeme",
    "perdone",
    "perdona",
    "perdon",
];
/// Words an answer of formulas may hold beside them.
const FORMULA_FILLERS: &[&str] = &[
    "usted",
    "mucho",
    "mucha",
    "su",
    "tu",
    "nuevamente",
    "gracias",
    "ocasionadas",
    "ocasionados",
    "causadas",
    "causados",
];

/// An answer made of nothing but formulas ("comprendo, comprendo, lamentamos mucho las
/// molestias", "entiendo, entiendo, disculpe usted"): its acknowledgement verb, and a bare
/// apology, are formulas too. Nothing when any word says something of the case.
fn formula_only_answer(words: &[&str], stock: &[Hit]) -> Vec<Hit> {
    let covered = |i: usize| stock.iter().any(|h| h.first <= i && i <= h.last);
    let mut head = None;
    let mut apology = None;
    for (i, w) in words.iter().enumerate() {
        if w.is_empty() || covered(i) {
            continue;
        }
        if ACK_HEADS.contains(w) && *w != "veo" {
            head.get_or_insert(i);
        } else if BARE_APOLOGIES.contains(w) {
            apology.get_or_insert(i);
        } else if !ACK_COMPANIONS.contains(w) && !FORMULA_FILLERS.contains(w) {
            return Vec::new();
        }
    }
    let Some(h) = head else {
        return Vec::new();
    };
    if stock.is_empty() && apology.is_none() {
        return Vec::new();
    }
    let mut out = vec![own_words_hit(
        LexiconFile::AgentStock,
        Cat::EmptyEmpathy,
        "acknowledgement in an answer of formulas",
        0.5,
        words,
        h,
        h,
    )];
    out.extend(apology.map(|i| {
        own_words_hit(
            LexiconFile::AgentStock,
            Cat::EmptyEmpathy,
            "apology in an answer of formulas",
            0.5,
            words,
            i,
            i,
        )
    }));
    out
}

/// "Usted debió comprar con anticipación", "es que usted tenía tres meses de atraso", "vos
/// tendrías que haber…": what the customer did wrong, as the answer.
fn blame(words: &[&str]) -> Option<Hit> {
    let at = |i: usize| words.get(i).copied().unwrap_or("");
    (0..words.len()).find_map(|i| {
        let you = matches!(words[i], "usted" | "tu" | "vos" | "ustedes");
        let should = |w: &str| {
            matches!(
                w,
                "debio" | "debia" | "debiste" | "debias" | "debieron" | "tenia" | "tenias"
            )
        };
        if you && (should(at(i + 1)) || at(i + 1) == "no" && should(at(i + 2))) {
            return Some(own_words_hit(
                LexiconFile::AgentStock,
                Cat::Dismissal,
                "blames the customer",
                0.9,
                words,
                i,
                i + 1,
            ));
        }
        (i >= 2 && you && words[i - 1] == "que" && words[i - 2] == "es").then(|| {
            own_words_hit(
                LexiconFile::AgentStock,
                Cat::Dismissal,
                "blames the customer",
                0.8,
                words,
                i - 2,
                i,
            )
        })
    })
}

/// Evaluative words that, followed by "que" and a feeling, say the feeling is understandable:
/// "es lógico que estés quemado", "normal que esté hasta las narices".
const UNDERSTANDABLE: &[&str] = &[
    "normal",
    "logico",
    "comprensible",
    "entendible",
    "natural",
    "razonable",
    "obvio",
];
/// Subjunctives of being or feeling after an `UNDERSTANDABLE … que` ("…que esté molesta", "…que
/// no nos crea", "…que se sienta así").
const FEELING_SUBJUNCTIVES: &[&str] = &[
    "este",
    "estes",
    "esten",
    "sienta",
    "sientas",
    "moleste",
    "molestes",
    "enoje",
    "enojes",
    "enfade",
    "enfades",
    "preocupe",
    "preocupes",
    "crea",
    "creas",
    "desconfie",
    "desconfies",
    "harte",
    "hartes",
    "indigne",
    "desespere",
    "desesperes",
    "canse",
    "frustre",
    "agobie",
    "asuste",
    "asustes",
    "queje",
    "quejes",
];
/// Feelings a situation gives ("eso da coraje", "da mucha rabia", "me daría bronca a mí
/// también").
const GIVEN_FEELINGS: &[&str] = &[
    "coraje",
    "rabia",
    "bronca",
    "impotencia",
    "pena",
    "colera",
    "muina",
    "tristeza",
    "miedo",
    "angustia",
    "cosa",
];
/// Reflexive infinitives of feeling after "para" ("está para enojarse", "es para volverse
/// loco").
const FEELING_INFINITIVES: &[&str] = &[
    "enojarse",
    "molestarse",
    "enfadarse",
    "preocuparse",
    "indignarse",
    "desesperarse",
    "quejarse",
    "volverse",
    "cabrearse",
    "calentarse",
    "arrecharse",
    "emputarse",
];
/// Interjections of sympathy opening an answer ("uy, señora…", "uf…", "pucha…").
const SYMPATHY_INTERJECTIONS: &[&str] = &["uy", "uf", "uff", "ufff", "huy", "ay", "pucha", "chuta"];
/// Praise of what the customer did ("hizo muy bien en llamar", "hace bien en pedirlo").
const DID_WELL: &[&str] = &["hizo", "hace", "hiciste", "haces", "hicieron", "has", "ha"];

/// Acknowledgement built in the agent's own words rather than listed: `(empathy, validation)`.
/// Empathy: a feeling called understandable ("es lógico que estés quemado"), a feeling the
/// situation gives ("eso da coraje"), anyone's reaction ("aburre a cualquiera", "está para
/// enojarse"), praise of what the customer did ("hizo muy bien en llamar"). Validation (empathy
/// only when it reflects the customer's own facts): a sympathy interjection opening the answer
/// ("uy, señora, con su negocio de postres…").
fn acknowledgement_frame(words: &[&str]) -> (Option<Hit>, Option<Hit>) {
    let hit = |term: &str, cat: Cat, first: usize, last: usize| {
        own_words_hit(
            LexiconFile::AgentEmpathy,
            cat,
            term,
            0.8,
            words,
            first,
            last.min(words.len() - 1),
        )
    };
    let at = |i: usize| words.get(i).copied().unwrap_or("");
    let mut empathy = None;
    for i in 0..words.len() {
        let w = words[i];
        if UNDERSTANDABLE.contains(&w) && at(i + 1) == "que" {
            if let Some(k) = (i + 2..i + 9).find(|&k| FEELING_SUBJUNCTIVES.contains(&at(k))) {
                empathy = Some(hit("a feeling called understandable", Cat::Empathy, i, k));
                break;
            }
        }
        if matches!(w, "da" | "dan" | "daria" | "dio") {
            let k = if matches!(at(i + 1), "mucho" | "mucha" | "tanta" | "tanto") {
                i + 2
            } else {
                i + 1
            };
            if GIVEN_FEELINGS.contains(&at(k)) && !(at(k) == "cosa" && at(k + 1).is_empty()) {
                empathy = Some(hit("a feeling the situation gives", Cat::Empathy, i, k));
                break;
            }
        }
        if w == "cualquiera" && i > 0 && matches!(words[i - 1], "a" | "le") {
            empathy = Some(hit("anyone would feel it", Cat::Empathy, i - 1, i));
            break;
        }
        if w == "para" && FEELING_INFINITIVES.contains(&at(i + 1)) {
            empathy = Some(hit("anyone would feel it", Cat::Empathy, i, i + 1));
            break;
        }
        if DID_WELL.contains(&w) {
            let k = if at(i + 1) == "muy" { i + 2 } else { i + 1 };
            if at(k) == "bien" && at(k + 1) == "en" {
                empathy = Some(hit(
                    "praise of what the customer did",
                    Cat::Empathy,
                    i,
                    k + 1,
                ));
                break;
            }
        }
    }
    let validation = (0..words.len().min(2))
        .find(|&i| SYMPATHY_INTERJECTIONS.contains(&words[i]))
        .map(|i| hit("sympathy interjection", Cat::Validation, i, i));
    (empathy, validation)
}

/// Words ending like a first-person verb that are not verbs in an agent's answer.
const NOT_FIRST_PERSON: &[&str] = &[
    "lo", "como", "pero", "esto", "eso", "algo", "nuevo", "todo", "mucho", "poco", "caso",
    "numero", "correo", "cargo", "seguro", "plazo", "contrato", "pago", "medio", "centro", "mismo",
    "cuanto", "otro", "resto", "dinero", "minuto", "segundo", "momento", "tiempo", "rato", "texto",
    "banco", "recibo", "servicio", "tecnico", "folio", "codigo", "titulo", "pasado",
];

/// Infinitives after "puedo"/"podría" that say, ask or help rather than do something for the case.
const OFFERS_THAT_SAY: &[&str] = &[
    "ayudar",
    "explicar",
    "informar",
    "indicar",
    "decir",
    "comentar",
    "contar",
    "pedir",
    "preguntar",
    "entender",
    "comprender",
    "ver",
    "confirmar",
    "repetir",
];

/// First-person verbs that say, feel or ask rather than do: "lo siento", "le entiendo", "le
/// explico", "le pido disculpas" are no step, whatever time follows them.
const NOT_ACTIONS: &[&str] = &[
    "siento",
    "entiendo",
    "comprendo",
    "explico",
    "informo",
    "indico",
    "comunico",
    "menciono",
    "notifico",
    "reitero",
    "advierto",
    "comento",
    "digo",
    "pregunto",
    "cuento",
    "agradezco",
    "pido",
    "recuerdo",
    "repito",
    "escucho",
    "confirmo",
    "molesto",
    "ruego",
    "aclaro",
    "imagino",
    "creo",
    "veo",
    "oigo",
];

/// Clitics before a verb the agent does for the customer ("le mando", "te devuelvo", "se lo
/// cambiamos").
const CLITICS: &[&str] = &["le", "te", "les", "se", "lo", "la", "os", "me"];

/// An infinitive, with or without enclitics ("enviar", "enviarle", "mandárselo").
fn infinitive(w: &str) -> bool {
    let bare =
        |w: &str| w.len() >= 4 && (w.ends_with("ar") || w.ends_with("er") || w.ends_with("ir"));
    let mut w = w;
    // Up to two enclitics: "mandárselo" → "mandarse" → "mandar".
    for _ in 0..2 {
        if let Some(stem) = ["los", "las", "les", "le", "lo", "la", "se", "te", "me"]
            .iter()
            .find_map(|suffix| w.strip_suffix(suffix).filter(|stem| bare(stem)))
        {
            w = stem;
        }
    }
    bare(w)
}

/// A first-person commitment said in the agent's own verb, not a listed phrase: "voy a levantar
/// la aclaración", "vamos a enviarle", "le levanto", "te hago ahora mismo la devolución", "se lo
/// cambiamos". With a time or reference in the same turn it is a next step, whatever the verb.
fn commitment(words: &[&str]) -> Option<Hit> {
    let first_person = |w: &str| {
        w.len() >= 4
            && !NOT_FIRST_PERSON.contains(&w)
            // A participle ("lamentamos lo ocurrido", "lo sucedido") is no verb of mine.
            && !w.ends_with("ido")
            && (w.ends_with('o')
                || w.ends_with("amos")
                || w.ends_with("emos")
                || w.ends_with("imos"))
    };
    let found = (0..words.len()).find_map(|i| {
        let w = words[i];
        let next = words.get(i + 1).copied().unwrap_or("");
        let after = words.get(i + 2).copied().unwrap_or("");
        if matches!(w, "voy" | "vamos") && next == "a" && infinitive(after) {
            return Some((i, i + 2));
        }
        // "que podría activarle hoy", "le puedo cambiar el plan ahora mismo": an offer of a
        // concrete act is a step (the time or reference still has to come with it); not "no
        // puedo hacer nada", nor saying or helping ("le puedo explicar", "¿en qué le puedo
        // ayudar?").
        if matches!(w, "puedo" | "podemos" | "podria" | "podriamos")
            && !(i > 0 && words[i - 1] == "no")
            && infinitive(next)
            && !OFFERS_THAT_SAY.iter().any(|v| next.starts_with(v))
        {
            return Some((i, i + 1));
        }
        // "lo que hago ahorita es aplicarle el abono": the commitment announced as what I do.
        if matches!(w, "hago" | "hacemos" | "haremos" | "haré") && i > 0 && words[i - 1] == "que" {
            if let Some(k) = (i + 1..(i + 4).min(words.len())).find(|&k| words[k] == "es") {
                if words.get(k + 1).is_some_and(|v| infinitive(v)) {
                    return Some((i - 1, k + 1));
                }
            }
        }
        // "le estoy aplicando un crédito", "te estamos enviando": a step already under way.
        if CLITICS.contains(&w)
            && matches!(next, "estoy" | "estamos")
            && (after.ends_with("ando") || after.ends_with("iendo") || after.ends_with("yendo"))
        {
            return Some((i, i + 2));
        }
        if CLITICS.contains(&w) {
            // "se lo cambiamos", "te lo mando".
            let (j, verb) = if CLITICS.contains(&next) {
                (i + 2, after)
            } else {
                (i + 1, next)
            };
            if first_person(verb)
                && !NOT_ACTIONS.contains(&verb)
                && !(w == "me" && verb.ends_with('o'))
            {
                return Some((i, j));
            }
        }
        None
    })?;
    let (first, last) = found;
    Some(own_words_hit(
        LexiconFile::AgentNextStep,
        Cat::Action,
        "first-person commitment",
        0.8,
        words,
        first,
        last,
    ))
}

/// "Dame quince segundos", "deme dos minutitos", "regáleme un minuto": the agent announced how
/// long the customer will wait, which makes the silence after it a quick check. Read with the
/// agent's lexicon hits (`Analyzer::analyze`), so the timing model sees it too.
pub fn counted_wait(folded: &[&str]) -> Option<Hit> {
    let words = plain_words(folded);
    let asks = |w: &str| {
        matches!(
            w,
            "dame"
                | "deme"
                | "denme"
                | "regalame"
                | "permitame"
                | "permiteme"
                | "espereme"
                | "esperame"
                | "aguardame"
                | "aguardeme"
                | "bancame"
                | "aguanteme"
                | "aguantame"
        )
    };
    let unit = |w: &str| {
        w.starts_with("segundit")
            || w.starts_with("minutit")
            || matches!(w, "segundo" | "segundos" | "minuto" | "minutos")
    };
    let i = (0..words.len())
        .find(|&i| asks(words[i]) && (i + 1..(i + 4).min(words.len())).any(|j| unit(words[j])))?;
    let last = (i + 1..(i + 4).min(words.len())).find(|&j| unit(words[j]))?;
    Some(own_words_hit(
        LexiconFile::AgentHold,
        Cat::Hold,
        "counted wait",
        1.0,
        &words,
        i,
        last,
    ))
}

/// Determiners that open a named destination ("a su aseguradora", "con la doctora Silva", "a la
/// cuadrilla de redes").
const DETERMINERS: &[&str] = &[
    "su", "la", "el", "los", "las", "mi", "nuestra", "nuestro", "tu",
];

/// Words after a determiner that name nobody in particular (`VagueTarget` covers the phrases).
const NOBODY: &[&str] = &[
    "otra",
    "otro",
    "area",
    "departamento",
    "linea",
    "persona",
    "gente",
    "sistema",
];

/// Who the transfer goes to, said in the agent's own words right after the transfer verb:
/// "(ahora) a/con + determiner + noun" — not only the destinations the lexicon lists.
fn named_after(words: &[&str], verb_last: usize) -> Option<Hit> {
    let mut i = verb_last + 1;
    // The transfer phrase may end on its preposition ("tiene que llamar a | su aseguradora"),
    // where the determiner is optional; otherwise "(ahora) a/con + determiner", or "al".
    if matches!(words.get(verb_last).copied(), Some("a" | "con")) {
        if words.get(i).is_some_and(|w| DETERMINERS.contains(w)) {
            i += 1;
        }
    } else {
        while words
            .get(i)
            .is_some_and(|w| matches!(*w, "ahora" | "mismo" | "ya" | "directamente" | "enseguida"))
        {
            i += 1;
        }
        match words.get(i).copied() {
            Some("al") => i += 1,
            Some("a" | "con" | "hacia")
                if words.get(i + 1).is_some_and(|w| DETERMINERS.contains(w)) =>
            {
                i += 2
            }
            _ => return None,
        }
    }
    let noun = words.get(i)?;
    (noun.chars().count() >= 4 && !NOBODY.contains(noun)).then(|| {
        own_words_hit(
            LexiconFile::AgentTransfer,
            Cat::Target,
            "named destination",
            1.0,
            words,
            verb_last + 1,
            i,
        )
    })
}

/// Why, said as a purpose after the transfer verb: "para + infinitive" ("para que revisen" is in
/// the lexicon; "para ir a la caja", "para revisar la línea" are not all listable).
fn purpose_after(words: &[&str], verb_last: usize) -> Option<Hit> {
    let i = (verb_last + 1..words.len().saturating_sub(1))
        .find(|&i| words[i] == "para" && infinitive(words[i + 1]))?;
    Some(own_words_hit(
        LexiconFile::AgentTransfer,
        Cat::Reason,
        "purpose",
        1.0,
        words,
        i,
        i + 1,
    ))
}

/// A hit found by a construction over the agent's own words (tokens `first..=last`), not by a
/// lexicon entry: `term` names the construction.
/// Verbs that acknowledge or apologise before a generic noun ("entiendo su molestia",
/// "lamentamos el inconveniente", "disculpe la situación").
const GENERIC_ACK_VERBS: &[&str] = &[
    "entiendo",
    "comprendo",
    "entendemos",
    "comprendemos",
    "lamento",
    "lamentamos",
    "sentimos",
    "disculpe",
    "disculpa",
    "disculpen",
    "perdone",
    "perdona",
    "perdonen",
];
/// Determiners between such a verb and the noun.
const GENERIC_ACK_DETERMINERS: &[&str] = &[
    "su",
    "sus",
    "tu",
    "tus",
    "la",
    "las",
    "el",
    "los",
    "esta",
    "estas",
    "este",
    "esa",
    "esas",
    "ese",
    "toda",
    "todo",
    "perfectamente",
    "mucho",
    "lo",
];
/// Words after the noun that go on to name the customer's case ("su preocupación por la
/// cirugía", "la molestia de tener que llamar"): then it is not generic.
const SPECIFIC_AFTER: &[&str] = &["por", "de", "del", "con", "que", "cuando", "al", "ante"];

/// The generic noun ends the phrase instead of going on to the customer's case.
fn names_nothing_more(words: &[&str], noun: &Hit) -> bool {
    !words
        .get(noun.last + 1)
        .is_some_and(|w| SPECIFIC_AFTER.contains(w))
}

/// What follows `at` is a stock phrase or a generic feeling noun ending the phrase, after at most
/// two determiners.
fn rote_object(words: &[&str], at: usize, stock: &[Hit], a: &Analysis) -> bool {
    let mut i = at;
    for _ in 0..=2 {
        if stock.iter().any(|s| s.first == i) {
            return true;
        }
        if let Some(noun) = a.all(Cat::FeelingNoun).find(|n| n.first == i) {
            return names_nothing_more(words, noun);
        }
        match words.get(i) {
            Some(w) if GENERIC_ACK_DETERMINERS.contains(w) => i += 1,
            _ => return false,
        }
    }
    false
}

/// The rote formula built, not listed: an acknowledgement verb, a determiner and a generic
/// feeling noun (lexicon `feeling_noun`) that names nothing more — "entiendo su molestia",
/// "comprendo tu enojo", "lamentamos el inconveniente". One stock phrase, like the listed ones.
fn generic_acknowledgement(words: &[&str], noun: &Hit) -> Option<Hit> {
    if noun.first == 0 || noun.first != noun.last {
        return None;
    }
    if !names_nothing_more(words, noun) {
        return None;
    }
    let mut i = noun.first;
    let mut determiners = 0;
    while i > 0 && determiners < 2 && GENERIC_ACK_DETERMINERS.contains(&words[i - 1]) {
        i -= 1;
        determiners += 1;
    }
    if determiners == 0 || i == 0 || !GENERIC_ACK_VERBS.contains(&words[i - 1]) {
        return None;
    }
    Some(own_words_hit(
        LexiconFile::AgentStock,
        Cat::EmptyEmpathy,
        "construction/generic_acknowledgement",
        1.0,
        words,
        i - 1,
        noun.last,
    ))
}

fn own_words_hit(
    file: LexiconFile,
    cat: Cat,
    term: &str,
    weight: f64,
    words: &[&str],
    first: usize,
    last: usize,
) -> Hit {
    Hit {
        file,
        cat,
        term: term.to_string(),
        weight,
        intensity: 1.0,
        negated: false,
        quote: words[first..=last].join(" "),
        first,
        last,
    }
}

/// An agent turn's folded tokens without their punctuation ("segundos," → "segundos"), borrowed.
fn plain_words<S: AsRef<str>>(folded: &[S]) -> Vec<&str> {
    folded
        .iter()
        .map(|w| w.as_ref().trim_matches(|c: char| !c.is_alphanumeric()))
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::language::{Analyzer, Side};

    fn read(text: &str) -> super::AgentReading {
        let an = Analyzer::load(None).unwrap();
        super::read(&an.analyze(text, Side::Agent))
    }

    #[test]
    fn acknowledgement_in_the_agents_own_words_is_empathy() {
        for t in [
            "y después de tantas vueltas es lógico que estés quemado, reviso tu caso entero",
            "uf normal que esté hasta las narices, déjeme que le busque alternativa",
            "paga todos los meses y le dicen que no, eso da coraje",
            "dos meses con la misma respuesta aburre a cualquiera",
            "hizo muy bien en llamar, señora, ya bloqueé la tarjeta",
            "es normal que al ver la cifra se asuste, se la explico línea por línea",
        ] {
            assert!(read(t).empathy.is_some(), "{t}");
        }
        // Explaining a delay is no empathy; an interjection is only a frame.
        for t in [
            "es lógico que el pedido tarde tres días",
            "es normal que el pedido tarde unos días en esta época",
        ] {
            assert!(read(t).empathy.is_none(), "{t}");
        }
        let r = read("uy señora con su negocio de postres perder la refri es un golpe fuerte");
        assert!(r.empathy.is_none() && r.validation.is_some());
    }

    #[test]
    fn an_answer_of_formulas_counts_its_acknowledgement() {
        assert_eq!(
            read("comprendo comprendo lamentamos mucho las molestias ocasionadas")
                .stock
                .len(),
            2
        );
        assert_eq!(read("Entiendo, entiendo, disculpe usted.").stock.len(), 2);
        // Something of the case in it: the verb is no formula.
        assert!(read("entiendo, le reviso el cobro ahora").stock.is_empty());
        // "lo ocurrido" is no commitment of the agent's.
        assert!(read("lamentamos mucho lo ocurrido").action.is_none());
    }

    #[test]
    fn blame_minimising_and_a_change_of_subject_are_dismissals() {
        for t in [
            "seguramente no oyó el timbre, tiene que estar más atenta",
            "es que usted tenía tres meses de atraso",
            "usted debió comprar con anticipación",
            "bueno pero no es tan grave",
            "por cierto, ¿sabía que tenemos una promoción?",
        ] {
            assert!(read(t).dismissal.is_some(), "{t}");
        }
        assert!(read("le registro el reclamo y el técnico la llama mañana")
            .dismissal
            .is_none());
    }

    #[test]
    fn a_generic_feeling_noun_after_an_acknowledgement_is_a_formula() {
        for t in [
            "entiendo su molestia señor",
            "comprendo tu enojo",
            "lamentamos el inconveniente",
        ] {
            let r = read(t);
            assert_eq!(r.stock.len(), 1, "{t}: {:?}", r.stock);
            assert!(r.empathy.is_none(), "{t}");
        }
        // Naming the customer's case is not generic.
        let r = read("entiendo su preocupación por la cirugía de su papá");
        assert!(r.stock.is_empty(), "{:?}", r.stock);
    }

    #[test]
    fn an_empathy_frame_around_a_formula_is_a_formula() {
        let r = read("le pido disculpas por las molestias ocasionadas");
        assert!(r.empathy.is_none(), "{:?}", r.empathy);
        assert_eq!(r.stock.len(), 2, "{:?}", r.stock);
        let r = read("lamento mucho lo sucedido");
        assert!(r.empathy.is_none() && !r.stock.is_empty(), "{:?}", r.stock);
        // About the customer's own facts it is empathy.
        let r = read("le pido disculpas por el corte de ayer");
        assert!(r.empathy.is_some() && r.stock.is_empty(), "{:?}", r.stock);
    }

    #[test]
    fn what_i_do_now_is_a_commitment() {
        let r = read("lo que hago ahorita es aplicarle el abono provisional antes de las seis");
        assert!(r.next_step().is_some(), "{:?} {:?}", r.action, r.anchor);
    }

    #[test]
    fn telling_the_customer_what_they_can_do_is_no_step_of_the_agent() {
        // "Le informo que puede solicitar…": a verb of saying, and the customer's action.
        let r = read("le informo que puede solicitar una compensación que se verá reflejada en su próximo recibo");
        assert!(r.next_step().is_none(), "{:?} {:?}", r.action, r.anchor);
        let r = read("le envío ahora el formulario y el jueves le llamo para confirmarlo");
        assert!(r.next_step().is_some(), "{:?} {:?}", r.action, r.anchor);
    }
}
