//! The TOML configuration loader, and its writer: a file that loads must write back
//! (`Config::to_toml`) to text that loads to the same configuration.
#![no_main]

use danegate_config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = Config::from_toml_str(text, "fuzz.toml") {
        let _ = c.lints();
        let written = c.to_toml();
        match Config::from_toml_str(&written, "written.toml") {
            Ok(back) => assert_eq!(back, c, "config → TOML → config changed it:\n{written}"),
            Err(e) => panic!("written configuration does not load: {e}\n{written}"),
        }
    }
});
