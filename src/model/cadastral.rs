use std::fmt;
use std::str::FromStr;

/// The format of a Russian cadastral number as users write it: region, district,
/// quarter (6 or 7 digits), then the plot number within the quarter.
pub const CADASTRAL_FORMAT: &str = "NN:NN:NNNNNN[N]:N… (e.g. 16:50:011101:12)";

/// A format-checked cadastral number, such as `16:50:011101:12`.
///
/// The check is on the shape only: two digits of region, two of cadastral
/// district, six or seven of quarter, then one or more digits of plot number.
/// Whether the plot exists is a question for the store or the index.
///
/// # Examples
/// ```
/// use imgis::model::Cadastral;
/// let c: Cadastral = "16:50:011101:12".parse().unwrap();
/// assert_eq!(c.quarter(), "16:50:011101");
/// assert!("16:50:0111:12".parse::<Cadastral>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cadastral(Box<str>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{input}' is not a cadastral number; expected {CADASTRAL_FORMAT}")]
pub struct CadastralError {
    /// The rejected text, cut to a sane length so an error never echoes megabytes.
    pub input: String,
}

impl Cadastral {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The cadastral quarter this plot lies in (the number without the plot part).
    pub fn quarter(&self) -> &str {
        let end = self
            .0
            .rfind(':')
            .expect("a checked cadastral number has three colons");
        &self.0[..end]
    }
}

impl FromStr for Cadastral {
    type Err = CadastralError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split(':').collect();
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        let ok = parts.len() == 4
            && parts[0].len() == 2
            && parts[1].len() == 2
            && (parts[2].len() == 6 || parts[2].len() == 7)
            // A plot number longer than 9 digits exists nowhere; the bound keeps keys small.
            && parts[3].len() <= 9
            && parts.iter().all(|p| digits(p));
        if ok {
            Ok(Cadastral(s.into()))
        } else {
            Err(CadastralError {
                input: s.chars().take(64).collect(),
            })
        }
    }
}

impl fmt::Display for Cadastral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Cadastral {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_shapes_and_rejects_others() {
        for good in ["16:50:011101:12", "16:50:0111012:1", "77:01:000101:123456"] {
            assert!(good.parse::<Cadastral>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "16:50:011101",
            "16:50:01110:12",
            "16:50:01110123:1",
            "1a:50:011101:12",
            "16:50:011101:",
            "16:50:011101:12:3",
            "16-50-011101-12",
        ] {
            assert!(bad.parse::<Cadastral>().is_err(), "{bad}");
        }
    }
}
