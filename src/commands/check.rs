//! `stress check FILE... [--print]`: validate scenarios without a database.

use crate::exit::Exit;
use crate::options::CheckRequest;
use crate::scenario;

pub fn check(req: CheckRequest) -> Exit {
    let mut exit = Exit::Ok;
    for file in &req.scenarios.files {
        match scenario::load(file, &req.scenarios.load) {
            Ok(s) if req.print => {
                for v in &s.variants {
                    println!("# {} — variant \"{}\"", file.display(), v.name);
                    match scenario::printable(&v.name, &v.settings) {
                        Ok(text) => println!("{}", crate::redact::redact(&text)),
                        Err(e) => {
                            eprintln!("error: cannot show the settings of {}: {e}", v.name);
                            exit = exit.worst(Exit::BadInput);
                        }
                    }
                }
            }
            Ok(s) => println!("{}: ok ({} variant(s))", file.display(), s.variants.len()),
            Err(errors) => {
                super::print_errors(errors);
                exit = exit.worst(Exit::BadInput);
            }
        }
    }
    exit
}
