//! The numbers that turn a customer turn's cues into heat: one scale per cue category, the heat of
//! each construction, and the floors and caps that place a turn on the four levels. They are
//! fitted on labelled data (`cargo run --example calibrate -- eval/blind/dev/utterances.tsv`) and
//! shipped as `lexicons/es/calibration.tsv`; README "Calibration" reports the fit.

use super::constructions::Kind;
use super::lexicon::Cat;

/// Every calibrated number, with its default (the value before any fit).
macro_rules! params {
    ($( $field:ident = $default:expr, $doc:literal; )+) => {
        /// Calibrated weights (see the module doc).
        #[derive(Debug, Clone, PartialEq)]
        pub struct Calibration {
            $( #[doc = $doc] pub $field: f64, )+
        }

        impl Default for Calibration {
            fn default() -> Self {
                Calibration { $( $field: $default, )+ }
            }
        }

        impl Calibration {
            /// Parameter names, in file order.
            pub const NAMES: &'static [&'static str] = &[$( stringify!($field) ),+];

            pub fn get_mut(&mut self, name: &str) -> Option<&mut f64> {
                match name {
                    $( stringify!($field) => Some(&mut self.$field), )+
                    _ => None,
                }
            }

            pub fn get(&self, name: &str) -> Option<f64> {
                match name {
                    $( stringify!($field) => Some(self.$field), )+
                    _ => None,
                }
            }
        }
    };
}

params! {
    scale_anger = 1.0, "Scale of anger words and idioms.";
    scale_complaint = 1.0, "Scale of complaints.";
    scale_repeat_contact = 1.0, "Scale of repeat-contact phrases.";
    scale_sarcasm = 1.0, "Scale of sarcasm phrases.";
    scale_next_step_request = 1.0, "Scale of \"what now?\" questions.";
    scale_distress = 1.0, "Scale of worry and fear.";
    scale_distrust = 1.0, "Scale of contradiction and distrust.";
    scale_command = 1.0, "Scale of commands to the agent.";
    scale_insult = 1.0, "Scale of insults not aimed at the agent (company, situation).";
    scale_profanity = 1.0, "Scale of swearing used as a verdict (\"esto es una mierda\").";
    scale_supervisor = 1.0, "Scale of supervisor requests.";
    scale_churn = 1.0, "Scale of churn requests and threats.";
    scale_legal = 1.0, "Scale of legal and public threats.";
    scale_already_said = 1.0, "Scale of \"I already told you\".";
    scale_not_listened = 1.0, "Scale of \"you are not listening\".";
    scale_positive = 1.0, "Scale of negated praise (\"no es serio\").";
    heat_ultimatum = 0.75, "Heat of an ultimatum (hostility).";
    heat_condition = 0.3, "Heat of a calm conditional threat.";
    heat_contact_2 = 0.25, "Heat of a second contact.";
    heat_contact_3 = 0.4, "Heat of a third contact.";
    heat_contact_more = 0.5, "Heat of a fourth or later contact.";
    heat_wait_minutes = 0.2, "Heat of a wait counted in minutes.";
    heat_wait_hours = 0.3, "Heat of a wait counted in hours.";
    heat_wait_days = 0.4, "Heat of a wait counted in days.";
    heat_wait_weeks = 0.45, "Heat of a wait counted in weeks or more.";
    heat_rhetorical = 0.45, "Heat of a rhetorical challenge.";
    heat_echo = 0.3, "Heat of an emphatic echo (\"tres técnicos, tres\").";
    heat_counted_failure = 0.45, "Heat of attempts counted and none working.";
    heat_public_exposure = 0.75, "Heat of a threat of public exposure (hostility).";
    heat_broken_promise = 0.4, "Heat of a promised time that has passed.";
    heat_worst = 0.72, "Heat of the company judged the worst (contempt: hostility).";
    heat_taunt = 0.72, "Heat of the agent's competence mocked (an insult: hostility).";
    heat_resignation = 0.45, "Heat of the customer giving up (frustration).";
    heat_already_told = 0.45, "Heat of \"ya te lo expliqué\", \"ya se lo he dicho\" (made to repeat).";
    heat_sarcasm = 0.5, "Least heat of praise next to an adverse fact.";
    heat_hostile = 0.72, "Least heat of hostility (company insult, ultimatum, strong command).";
    heat_shout = 0.5, "Least heat of shouting (capitals) without exclamation marks.";
    cap_single_utterance = 0.65, "Most heat one turn carries without hostility, fury or shouting.";
}

/// The embedded calibration, read once.
static EMBEDDED: std::sync::LazyLock<Calibration> = std::sync::LazyLock::new(|| {
    Calibration::parse(include_str!("../../lexicons/es/calibration.tsv"))
        .expect("lexicons/es/calibration.tsv is valid (tested)")
});

/// File name (without `.tsv`) of the calibration, in `lexicons/es/` or an override directory.
pub const FILE: &str = "calibration";

impl Calibration {
    /// The embedded calibration, or `calibration.tsv` from an override directory when it has one.
    pub fn load(
        dir: Option<&std::path::Path>,
    ) -> Result<Calibration, super::lexicon::LexiconError> {
        let Some(path) = dir
            .map(|d| d.join(format!("{FILE}.tsv")))
            .filter(|p| p.is_file())
        else {
            return Ok(Calibration::embedded().clone());
        };
        let err = |message: String| super::lexicon::LexiconError {
            file: path.display().to_string(),
            line: 0,
            message,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
        Calibration::parse(&text).map_err(err)
    }

    /// The calibration compiled into calma.
    pub fn embedded() -> &'static Calibration {
        &EMBEDDED
    }

    /// Read `name<TAB>value[<TAB>note]` lines (`#` comments, a `name value note` header);
    /// parameters not listed keep their defaults, unknown names are an error.
    pub fn parse(text: &str) -> Result<Calibration, String> {
        let mut c = Calibration::default();
        for (i, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() || line.starts_with("name\t") {
                continue;
            }
            let mut cols = line.split('\t');
            let name = cols.next().unwrap_or("").trim();
            let value: f64 = cols
                .next()
                .and_then(|v| v.trim().parse().ok())
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("calibration line {}: bad value", i + 1))?;
            *c.get_mut(name)
                .ok_or_else(|| format!("calibration line {}: unknown name `{name}`", i + 1))? =
                value;
        }
        Ok(c)
    }

    /// The file form of this calibration.
    pub fn to_tsv(&self) -> String {
        let mut s = String::from("name\tvalue\n");
        for n in Self::NAMES {
            s.push_str(&format!("{n}\t{:.3}\n", self.get(n).unwrap_or_default()));
        }
        s
    }

    /// Scale of a cue category's weight in heat.
    pub fn scale(&self, cat: Cat) -> f64 {
        match cat {
            Cat::Anger => self.scale_anger,
            Cat::Complaint => self.scale_complaint,
            Cat::RepeatContact => self.scale_repeat_contact,
            Cat::Sarcasm => self.scale_sarcasm,
            Cat::NextStepRequest => self.scale_next_step_request,
            Cat::Distress => self.scale_distress,
            Cat::Distrust => self.scale_distrust,
            Cat::Command => self.scale_command,
            Cat::Insult | Cat::InsultPeer => self.scale_insult,
            Cat::Profanity => self.scale_profanity,
            Cat::Supervisor => self.scale_supervisor,
            Cat::Churn => self.scale_churn,
            Cat::Legal => self.scale_legal,
            Cat::AlreadySaid => self.scale_already_said,
            Cat::NotListened => self.scale_not_listened,
            Cat::Positive => self.scale_positive,
            _ => 1.0,
        }
    }

    /// Heat of a construction.
    pub fn construction(&self, kind: Kind) -> f64 {
        match kind {
            Kind::Ultimatum => self.heat_ultimatum,
            Kind::Condition => self.heat_condition,
            Kind::CountedContact(n) if n <= 2 => self.heat_contact_2,
            Kind::CountedContact(3) => self.heat_contact_3,
            Kind::CountedContact(_) => self.heat_contact_more,
            Kind::CountedWait(m) if m < 60 => self.heat_wait_minutes,
            Kind::CountedWait(m) if m < 1440 => self.heat_wait_hours,
            Kind::CountedWait(m) if m < 10_080 => self.heat_wait_days,
            Kind::CountedWait(_) => self.heat_wait_weeks,
            Kind::Rhetorical => self.heat_rhetorical,
            Kind::Echo => self.heat_echo,
            Kind::CountedFailure => self.heat_counted_failure,
            Kind::PublicExposure => self.heat_public_exposure,
            Kind::BrokenPromise => self.heat_broken_promise,
            Kind::Worst => self.heat_worst,
            Kind::Taunt => self.heat_taunt,
            Kind::Resignation => self.heat_resignation,
            Kind::AlreadyTold => self.heat_already_told,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_parses_and_round_trips() {
        let c = Calibration::embedded();
        assert_eq!(&Calibration::parse(&c.to_tsv()).unwrap(), c);
        assert!(Calibration::parse("nope\t1\n").is_err());
        assert!(Calibration::parse("heat_shout\t-1\n").is_err());
    }
}
