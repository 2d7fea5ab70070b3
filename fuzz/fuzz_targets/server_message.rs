//! Any bytes as a line from (what should be) an echo server: the server
//! message deserialised, checked as the client checks it before use
//! (engine::validate), and a report or answer through check's adapter into
//! the verdict engine, valid or not. Must never panic.
#![no_main]
use engine::check::{option_area, server_report, verdict_input, LocalFacts, Observations};
use engine::validate::{self, Ends};
use libfuzzer_sys::fuzz_target;
use packet::echo::{HostReadiness, ServerMessage};
use packet::verdict::evaluate;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = serde_json::from_slice::<ServerMessage>(data) else {
        return;
    };
    let (report, answer) = match message {
        ServerMessage::Report(r) => (Some(*r), None),
        ServerMessage::Answer(a) => (None, Some(a)),
        ServerMessage::Error(_) | ServerMessage::AggregateStart(_) => return,
        ServerMessage::AggregateResult(result) => {
            // A hostile server's aggregate numbers go through the same
            // checks the client makes before using them.
            let mut notes = Vec::new();
            let _ = engine::aggregate::validate::subflow_records(&result.subflows, &mut notes);
            return;
        }
    };
    let ends = Ends {
        client: "10.1.0.1:40000".parse().unwrap(),
        server: "10.2.0.2:6101".parse().unwrap(),
    };
    if let Some(r) = &report {
        if let Err(e) = validate::report(r, &ends) {
            let _ = e.to_string();
        }
        if let Some(a) = &answer {
            let _ = validate::answer(a, &r.peer, &[1000, 1001]);
        }
        for seg in r.syn.iter().chain(&r.syn_ack) {
            let _ = option_area(seg);
        }
        let _ = server_report(r, answer.as_ref());
    }
    if let Some(a) = &answer {
        let peer = packet::echo::Endpoint {
            addr: "10.1.0.1".into(),
            port: 40000,
        };
        if let Err(e) = validate::answer(a, &peer, &[1000, 1001]) {
            let _ = e.to_string();
        }
    }
    let local = LocalFacts {
        mptcp_socket: Some(true),
        readiness: HostReadiness::default(),
        user_version: None,
    };
    let obs = Observations {
        target: "fuzz".into(),
        report,
        answer,
        ..Observations::default()
    };
    let adapted = verdict_input(&local, &obs);
    let _ = evaluate(&adapted.input);
});
