//! The nudge catalogue: every kind, its default texts, severity and priority.
//!
//! Each kind encodes one piece of the contact-centre guidance the product is built on
//! (`shared/seeds/`); the comment on each variant says which.

use serde::{Deserialize, Serialize};

use crate::protocol::Severity;

/// Stable snake_case nudge kinds (the `kind` field on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Abuse must never be tolerated: stay professional, set a firm limit, end the call by protocol.
    AbuseBoundary,
    /// When a customer turns hostile the body stiffens and breathing stops; breathe, it is not personal.
    Breathe,
    /// Interrupting is the clearest sign of lost patience; customers need to vent before solving.
    LetThemFinish,
    /// Silence on the phone reads as being ignored: say what you are doing, or announce a hold.
    DeadAir,
    /// Escalating to someone senior is legitimate when the call is beyond the agent's reach.
    OfferEscalation,
    /// Being passed around irritates; name who will help, their role, and why.
    OwnTheTransfer,
    /// Show the customer they were heard: paraphrase instead of making them repeat.
    ActiveListening,
    /// Put yourself in their place and show it, in words about their situation.
    ShowEmpathy,
    /// Define the next steps and tell the customer what you are doing to solve it.
    OfferNextStep,
    /// Customers are tired of empty words ("le entiendo perfectamente"): say what you understood.
    AvoidEmptyPhrases,
    /// Fluency and clear delivery: speed and long monologues lose the customer.
    SlowDown,
}

pub const ALL_KINDS: [Kind; 11] = [
    Kind::AbuseBoundary,
    Kind::Breathe,
    Kind::LetThemFinish,
    Kind::DeadAir,
    Kind::OfferEscalation,
    Kind::OwnTheTransfer,
    Kind::ActiveListening,
    Kind::ShowEmpathy,
    Kind::OfferNextStep,
    Kind::AvoidEmptyPhrases,
    Kind::SlowDown,
];

/// Language of the nudge texts shown to agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextLanguage {
    #[default]
    Es,
    En,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AbuseBoundary => "abuse_boundary",
            Kind::Breathe => "breathe",
            Kind::LetThemFinish => "let_them_finish",
            Kind::DeadAir => "dead_air",
            Kind::OfferEscalation => "offer_escalation",
            Kind::OwnTheTransfer => "own_the_transfer",
            Kind::ActiveListening => "active_listening",
            Kind::ShowEmpathy => "show_empathy",
            Kind::OfferNextStep => "offer_next_step",
            Kind::AvoidEmptyPhrases => "avoid_empty_phrases",
            Kind::SlowDown => "slow_down",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        ALL_KINDS.iter().copied().find(|k| k.as_str() == s)
    }

    /// Lower number = more important. Used when several nudges compete for the same moment.
    pub fn priority(self) -> u8 {
        ALL_KINDS.iter().position(|k| *k == self).unwrap_or(0) as u8
    }

    /// About what is happening right now (composure, being cut off, a silence, the pace), not
    /// advice on what to answer: it does not hold back advice.
    pub fn about_the_moment(self) -> bool {
        matches!(
            self,
            Kind::Breathe | Kind::LetThemFinish | Kind::DeadAir | Kind::SlowDown
        )
    }

    /// Open kinds this kind is a sharper version of: it replaces them instead of competing with
    /// them. An agent answering "resume su caso" or "reconoce cómo se siente" with a stock phrase
    /// needs "menos fórmulas" now.
    pub fn sharpens(self) -> &'static [Kind] {
        match self {
            Kind::AvoidEmptyPhrases => &[Kind::ActiveListening, Kind::ShowEmpathy],
            _ => &[],
        }
    }

    pub fn default_severity(self) -> Severity {
        match self {
            Kind::AbuseBoundary => Severity::Urgent,
            Kind::Breathe
            | Kind::LetThemFinish
            | Kind::DeadAir
            | Kind::OfferEscalation
            | Kind::OwnTheTransfer => Severity::Warn,
            Kind::ActiveListening
            | Kind::ShowEmpathy
            | Kind::OfferNextStep
            | Kind::AvoidEmptyPhrases
            | Kind::SlowDown => Severity::Info,
        }
    }

    /// Default text: short, imperative, warm; something an agent can read in one glance.
    pub fn default_text(self, lang: TextLanguage) -> &'static str {
        use TextLanguage::*;
        match (self, lang) {
            (Kind::AbuseBoundary, Es) => {
                "Pon un límite con calma y firmeza. Si sigue, aplica el protocolo."
            }
            (Kind::AbuseBoundary, En) => {
                "Set a calm, firm limit. If it goes on, follow the protocol."
            }
            (Kind::Breathe, Es) => "Respira. No es personal: escucha y luego responde.",
            (Kind::Breathe, En) => "Breathe. It isn't personal: listen, then answer.",
            (Kind::LetThemFinish, Es) => "Déjale terminar. Responde cuando acabe.",
            (Kind::LetThemFinish, En) => "Let them finish. Answer when they're done.",
            (Kind::DeadAir, Es) => "Silencio largo: cuéntale qué estás haciendo.",
            (Kind::DeadAir, En) => "Long silence: tell them what you're doing.",
            (Kind::OfferEscalation, Es) => "Ofrece escalarlo: quién lo verá y cuándo.",
            (Kind::OfferEscalation, En) => "Offer to escalate: who will take it, and when.",
            (Kind::OwnTheTransfer, Es) => "Antes de transferir, dile a quién y por qué.",
            (Kind::OwnTheTransfer, En) => "Before transferring, say to whom and why.",
            (Kind::ActiveListening, Es) => "Ya lo ha explicado: resume su caso y confírmalo.",
            (Kind::ActiveListening, En) => "They've explained it: sum up their case and check.",
            (Kind::ShowEmpathy, Es) => "Reconoce cómo se siente, con tus palabras.",
            (Kind::ShowEmpathy, En) => "Acknowledge how they feel, in your own words.",
            (Kind::OfferNextStep, Es) => "Ofrece un siguiente paso: qué harás y cuándo.",
            (Kind::OfferNextStep, En) => "Offer a next step: what you'll do and when.",
            (Kind::AvoidEmptyPhrases, Es) => "Menos fórmulas: di qué has entendido de su caso.",
            (Kind::AvoidEmptyPhrases, En) => "Skip the stock phrase: say what you understood.",
            (Kind::SlowDown, Es) => "Más despacio: frases cortas y pausas.",
            (Kind::SlowDown, En) => "Slow down: short sentences, pauses.",
        }
    }
}
