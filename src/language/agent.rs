//! The agent's side of one segment: empathy, ownership, paraphrase, empty stock phrases, concrete
//! next steps, transfers (and whether they say who and why), holds, limits on abuse.

use super::lexicon::Cat;
use super::{Analysis, Hit};

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
}

impl AgentReading {
    /// Action plus when/reference in the same segment.
    pub fn next_step(&self) -> Option<(&Hit, &Hit)> {
        Some((self.action.as_ref()?, self.anchor.as_ref()?))
    }
}

pub fn read(a: &Analysis) -> AgentReading {
    let pick = |c: Cat| a.first(c).cloned();
    let stock: Vec<Hit> = a.all(Cat::Stock).filter(|h| !h.negated).cloned().collect();
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
        hold: pick(Cat::Hold),
        target: pick(Cat::Target),
        reason: pick(Cat::Reason),
    }
}
