//! UDM JSON as it is (one event per record, `{"udm": {...}}` unwrapped later).

use super::{Adapter, Out, Record};

pub struct Udm;

impl Adapter for Udm {
    fn splits(&self) -> bool {
        false
    }
    fn convert(&mut self, rec: Record<'_>, line: usize, out: &mut Vec<Out>) -> Result<(), String> {
        match rec {
            Record::Json(v) => {
                out.push(Out {
                    line,
                    udm: v.clone(),
                });
                Ok(())
            }
            Record::Text(_) => Err("expected a JSON object (a UDM event)".into()),
        }
    }
}
