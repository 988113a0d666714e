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
    let pick = |c: Cat| a.first(c).cloned();
    let stock: Vec<Hit> = a
        .hits
        .iter()
        .filter(|h| matches!(h.cat, Cat::Stock | Cat::EmptyEmpathy) && !h.negated)
        .cloned()
        .collect();
    let stock_words: usize = stock.iter().map(|h| h.last + 1 - h.first).sum();
    let transfer = pick(Cat::Transfer).map(|hit| Transfer {
        target: a
            .all(Cat::Target)
            .find(|t| t.first > hit.last)
            .cloned()
            .or_else(|| pick(Cat::EscalationOffer).filter(|e| e.first >= hit.first)),
        vague: a
            .all(Cat::VagueTarget)
            .find(|t| t.first > hit.last)
            .cloned(),
        reason: a.all(Cat::Reason).find(|t| t.first > hit.last).cloned(),
        hit,
    });
    AgentReading {
        empathy: pick(Cat::Empathy),
        ownership: pick(Cat::Ownership),
        paraphrase: pick(Cat::Paraphrase),
        boundary: pick(Cat::Boundary),
        escalation_offer: pick(Cat::EscalationOffer),
        substantive_words: a.words.saturating_sub(stock_words),
        stock,
        action: pick(Cat::Action),
        anchor: pick(Cat::When).or_else(|| pick(Cat::Reference)),
        transfer,
        hold: pick(Cat::Hold).or_else(|| pick(Cat::FormalHold)),
        target: pick(Cat::Target),
        reason: pick(Cat::Reason),
        validation: pick(Cat::Validation),
        rote_ack: rote_ack(a),
        data_request: data_request(a),
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
