//! httpd's regular expressions (PCRE behind `ap_regex_t`), used by
//! `WSGIScriptAliasMatch` so patterns behave exactly like mod_alias's.

use std::ffi::CString;

use super::Pool;
use crate::ffi;

/// A compiled pattern owned by the configuration pool.
pub struct Regex {
    raw: *mut ffi::ap_regex_t,
}

// SAFETY: a compiled ap_regex_t is immutable after compilation and
// ap_regexec is thread-safe for concurrent matching.
unsafe impl Send for Regex {}
// SAFETY: as above.
unsafe impl Sync for Regex {}

/// A successful match: the end of the whole match and its capture groups.
pub struct Match {
    pub end: usize,
    pub groups: Vec<Option<Vec<u8>>>,
}

impl Regex {
    /// Compiles `pattern` in `pool` (freed with the pool).
    pub fn compile(pool: Pool, pattern: &str) -> Option<Regex> {
        let c = CString::new(pattern).ok()?;
        // SAFETY: the pool is live; ap_pregcomp registers its own cleanup.
        let raw = unsafe { ffi::ap_pregcomp(pool.as_ptr(), c.as_ptr(), 0) };
        (!raw.is_null()).then_some(Regex { raw })
    }

    pub fn exec(&self, subject: &[u8]) -> Option<Match> {
        const N: usize = 10;
        let c = CString::new(subject).ok()?;
        let mut m = [ffi::ap_regmatch_t {
            rm_so: -1,
            rm_eo: -1,
        }; N];
        // SAFETY: raw is a live compiled regex; m has N slots.
        let rc = unsafe { ffi::ap_regexec(self.raw, c.as_ptr(), N, m.as_mut_ptr(), 0) };
        if rc != 0 {
            return None;
        }
        let groups = m
            .iter()
            .map(|g| {
                (g.rm_so >= 0 && g.rm_eo >= g.rm_so)
                    .then(|| subject[g.rm_so as usize..g.rm_eo as usize].to_vec())
            })
            .collect();
        Some(Match {
            end: m[0].rm_eo.max(0) as usize,
            groups,
        })
    }
}
