use super::*;
use proptest::prelude::*;

fn i(code: u16, k: u32) -> Insn {
    Insn::new(code, 0, 0, k)
}

/// Runs `body` then `ret a`.
fn a_after(body: &[Insn], pkt: &[u8]) -> u32 {
    let mut prog = body.to_vec();
    prog.push(i(RET_A, 0));
    run(&prog, pkt)
}

const PKT: [u8; 8] = [0x45, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07];

#[test]
fn loads_absolute_and_indirect() {
    assert_eq!(a_after(&[i(LD_B_ABS, 1)], &PKT), 0x01);
    assert_eq!(a_after(&[i(LD_H_ABS, 1)], &PKT), 0x0102);
    assert_eq!(a_after(&[i(LD_W_ABS, 1)], &PKT), 0x0102_0304);
    let x2 = i(LDX_IMM, 2);
    assert_eq!(a_after(&[x2, i(LD_B_IND, 1)], &PKT), 0x03);
    assert_eq!(a_after(&[x2, i(LD_H_IND, 1)], &PKT), 0x0304);
    assert_eq!(a_after(&[x2, i(LD_W_IND, 1)], &PKT), 0x0304_0506);
    assert_eq!(a_after(&[i(LD_IMM, 77)], &PKT), 77);
    assert_eq!(a_after(&[i(LD_LEN, 0)], &PKT), 8);
}

#[test]
fn loads_into_x() {
    let txa = i(BPF_MISC | BPF_TXA, 0);
    assert_eq!(a_after(&[i(LDX_IMM, 9), txa], &PKT), 9);
    assert_eq!(a_after(&[i(LDX_LEN, 0), txa], &PKT), 8);
    // 4 * (0x45 & 0xf): the IPv4 header length.
    assert_eq!(a_after(&[i(LDX_B_MSH, 0), txa], &PKT), 20);
    assert_eq!(
        a_after(
            &[i(LD_IMM, 5), i(BPF_MISC | BPF_TAX, 0), i(LD_IMM, 0), txa],
            &PKT
        ),
        5
    );
}

#[test]
fn scratch_memory() {
    let prog = [
        i(LD_IMM, 11),
        i(BPF_ST, 3),
        i(LDX_IMM, 22),
        i(BPF_STX, 15),
        i(LD_IMM, 0),
        i(BPF_LD | BPF_W | BPF_MEM, 3),
        i(BPF_LDX | BPF_W | BPF_MEM, 15),
        i(BPF_ALU | BPF_ADD | BPF_X, 0),
    ];
    assert_eq!(a_after(&prog, &PKT), 33);
    // Word 16 does not exist.
    for bad in [
        i(BPF_ST, 16),
        i(BPF_STX, 16),
        i(BPF_LD | BPF_W | BPF_MEM, 16),
    ] {
        assert_eq!(run(&[bad, i(RET_K, 1)], &PKT), 0, "{bad:?}");
    }
}

#[test]
fn alu_with_constant_and_x() {
    let cases: [(u16, u32, u32, u32); 11] = [
        (BPF_ADD, 7, 5, 12),
        (BPF_SUB, 7, 5, 2),
        (BPF_MUL, 7, 5, 35),
        (BPF_DIV, 7, 2, 3),
        (BPF_MOD, 7, 5, 2),
        (BPF_OR, 0b100, 0b001, 0b101),
        (BPF_AND, 0b110, 0b011, 0b010),
        (BPF_XOR, 0b110, 0b011, 0b101),
        (BPF_LSH, 1, 4, 16),
        (BPF_RSH, 16, 4, 1),
        (BPF_NEG, 1, 0, u32::MAX),
    ];
    for (op, a, operand, want) in cases {
        let with_k = [i(LD_IMM, a), i(BPF_ALU | op | BPF_K, operand)];
        assert_eq!(a_after(&with_k, &PKT), want, "op {op:#x} K");
        let with_x = [
            i(LD_IMM, a),
            i(LDX_IMM, operand),
            i(BPF_ALU | op | BPF_X, 0),
        ];
        assert_eq!(a_after(&with_x, &PKT), want, "op {op:#x} X");
    }
    // Shifts of 32 and more give 0 rather than wrapping.
    assert_eq!(a_after(&[i(LD_IMM, 1), i(BPF_ALU | BPF_LSH, 32)], &PKT), 0);
}

#[test]
fn division_by_zero_drops() {
    for op in [BPF_DIV, BPF_MOD] {
        assert_eq!(
            run(
                &[i(LD_IMM, 1), i(BPF_ALU | op | BPF_K, 0), i(RET_K, 9)],
                &PKT
            ),
            0
        );
        let x0 = [
            i(LD_IMM, 1),
            i(LDX_IMM, 0),
            i(BPF_ALU | op | BPF_X, 0),
            i(RET_K, 9),
        ];
        assert_eq!(run(&x0, &PKT), 0);
    }
}

#[test]
fn conditional_jumps() {
    // Returns 1 when the test holds, 2 when not.
    let test = |code: u16, a: u32, operand: u32| {
        let (load_operand, k) = if code & BPF_X != 0 {
            (i(LDX_IMM, operand), 0)
        } else {
            (i(LDX_IMM, 0), operand)
        };
        let prog = [
            i(LD_IMM, a),
            load_operand,
            Insn::new(code, 1, 0, k),
            i(RET_K, 2),
            i(RET_K, 1),
        ];
        run(&prog, &PKT)
    };
    for src in [BPF_K, BPF_X] {
        assert_eq!(test(BPF_JMP | BPF_JEQ | src, 5, 5), 1);
        assert_eq!(test(BPF_JMP | BPF_JEQ | src, 5, 6), 2);
        assert_eq!(test(BPF_JMP | BPF_JGT | src, 6, 5), 1);
        assert_eq!(test(BPF_JMP | BPF_JGT | src, 5, 5), 2);
        assert_eq!(test(BPF_JMP | BPF_JGE | src, 5, 5), 1);
        assert_eq!(test(BPF_JMP | BPF_JGE | src, 4, 5), 2);
        assert_eq!(test(BPF_JMP | BPF_JSET | src, 0b110, 0b010), 1);
        assert_eq!(test(BPF_JMP | BPF_JSET | src, 0b100, 0b010), 2);
    }
}

#[test]
fn unconditional_jump_and_returns() {
    let prog = [i(JMP_JA, 1), i(RET_K, 1), i(RET_K, 2)];
    assert_eq!(run(&prog, &PKT), 2);
    assert_eq!(run(&[i(LD_IMM, 40), i(RET_A, 0)], &PKT), 40);
    assert_eq!(run(&[i(RET_K, 0)], &PKT), 0);
}

#[test]
fn loads_past_the_packet_drop_it() {
    for (code, k) in [
        (LD_B_ABS, 8),
        (LD_H_ABS, 7),
        (LD_W_ABS, 5),
        (LD_W_ABS, u32::MAX),
        (LDX_B_MSH, 8),
    ] {
        assert_eq!(run(&[i(code, k), i(RET_K, 1)], &PKT), 0, "{code:#x} {k}");
    }
    // Indirect: X + k beyond the end, and beyond u32.
    let ind = [i(LDX_IMM, u32::MAX), i(LD_B_IND, u32::MAX), i(RET_K, 1)];
    assert_eq!(run(&ind, &PKT), 0);
    let ind = [i(LDX_IMM, 6), i(LD_H_IND, 1), i(RET_K, 1)];
    assert_eq!(run(&ind, &PKT), 0);
    // A short packet: every cut of the header is dropped.
    let prog = [i(LD_W_ABS, 4), i(RET_K, 1)];
    for cut in 0..8 {
        assert_eq!(run(&prog, &PKT[..cut]), 0, "cut {cut}");
    }
    assert_eq!(run(&prog, &PKT), 1);
}

#[test]
fn out_of_range_and_unknown_reject() {
    // Jumps past the end, conditional or not.
    assert_eq!(run(&[i(JMP_JA, 1), i(RET_K, 1)], &PKT), 0);
    assert_eq!(run(&[i(JMP_JA, u32::MAX), i(RET_K, 1)], &PKT), 0);
    assert_eq!(run(&[Insn::new(JMP_JEQ_K, 5, 5, 0), i(RET_K, 1)], &PKT), 0);
    // Running off the end, an empty program.
    assert_eq!(run(&[i(LD_IMM, 1)], &PKT), 0);
    assert_eq!(run(&[], &PKT), 0);
    // Opcodes that do not exist.
    for code in [
        0x0e, // ret x
        0x18, // ld dw (eBPF only)
        0xc4, // alu op 0xc0
        0x55 | 0x0100,
        0x27, // misc 0x20
        0xb5, // jmp op 0xb0
        0x62, // st with a mode
    ] {
        assert_eq!(run(&[i(code, 1), i(RET_K, 1)], &PKT), 0, "{code:#x}");
    }
}

#[test]
fn builder_resolves_forward_labels() {
    let mut p = Program::new();
    let (yes, no) = (p.label(), p.label());
    p.op(LD_B_ABS, 0)
        .jeq(0x45, Target::Next, no)
        .op(LD_B_ABS, 1)
        .jeq(1, yes, no)
        .place(no)
        .ret(0)
        .place(yes)
        .ret(99);
    let prog = p.build().unwrap();
    assert_eq!(prog[1], Insn::new(JMP_JEQ_K, 0, 2, 0x45));
    assert_eq!(prog[3], Insn::new(JMP_JEQ_K, 1, 0, 1));
    assert_eq!(run(&prog, &PKT), 99);
    assert_eq!(run(&prog, &[0x45, 2]), 0);
    assert_eq!(run(&prog, &[0x60, 1]), 0);
}

#[test]
fn builder_encodes_unconditional_jumps_in_k() {
    let mut p = Program::new();
    let end = p.label();
    p.ja(end);
    for _ in 0..300 {
        p.ret(1);
    }
    p.place(end).ret(2);
    let prog = p.build().unwrap();
    assert_eq!(prog[0], Insn::new(JMP_JA, 0, 0, 300));
    assert_eq!(run(&prog, &PKT), 2);
}

#[test]
fn builder_refuses_what_would_silently_mis_jump() {
    // A conditional jump of 256 does not fit its byte.
    let mut p = Program::new();
    let far = p.label();
    p.jeq(0, far, Target::Next);
    for _ in 0..256 {
        p.ret(1);
    }
    p.place(far).ret(2);
    assert_eq!(
        p.build(),
        Err(BuildError::TooFar {
            from: 0,
            offset: 256
        })
    );
    // 255 does.
    let mut p = Program::new();
    let far = p.label();
    p.jeq(0, far, Target::Next);
    for _ in 0..255 {
        p.ret(1);
    }
    p.place(far).ret(2);
    assert_eq!(run(&p.build().unwrap(), &PKT), 2);

    let mut p = Program::new();
    let never = p.label();
    p.jeq(0, never, Target::Next).ret(0);
    assert_eq!(p.build(), Err(BuildError::Unplaced(0)));

    let mut p = Program::new();
    let back = p.label();
    p.place(back)
        .op(LD_IMM, 0)
        .jeq(0, back, Target::Next)
        .ret(0);
    assert_eq!(p.build(), Err(BuildError::Backward { from: 1, to: 0 }));

    let mut p = Program::new();
    let end = p.label();
    p.ja(end).ret(0).place(end);
    assert_eq!(p.build(), Err(BuildError::PastEnd { label: 0, from: 0 }));

    let mut p = Program::new();
    let twice = p.label();
    p.place(twice).ret(0).place(twice).ret(1);
    assert_eq!(p.build(), Err(BuildError::PlacedTwice(0)));

    assert_eq!(Program::new().build(), Err(BuildError::Length(0)));
    let mut p = Program::new();
    for _ in 0..=MAX_INSNS {
        p.ret(0);
    }
    assert_eq!(p.build(), Err(BuildError::Length(MAX_INSNS + 1)));
}

#[test]
fn insn_has_the_kernel_layout() {
    assert_eq!(std::mem::size_of::<Insn>(), 8);
    assert_eq!(std::mem::align_of::<Insn>(), 4);
}

proptest! {
    /// Total: any program on any packet gives a length or 0, never a panic.
    #[test]
    fn never_panics(
        prog in proptest::collection::vec(
            (any::<u16>(), any::<u8>(), any::<u8>(), any::<u32>()), 0..24),
        pkt in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let prog: Vec<Insn> = prog.into_iter().map(|(c, t, f, k)| Insn::new(c, t, f, k)).collect();
        let _ = run(&prog, &pkt);
    }

    /// The same with opcodes drawn from the valid ones, so runs go deep.
    #[test]
    fn never_panics_on_valid_opcodes(
        prog in proptest::collection::vec(
            (proptest::sample::select(vec![
                LD_W_ABS, LD_H_ABS, LD_B_ABS, LD_W_IND, LD_H_IND, LD_B_IND, LD_IMM, LD_LEN,
                LDX_IMM, LDX_LEN, LDX_B_MSH, BPF_ST, BPF_STX, BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM,
                BPF_ALU | BPF_DIV | BPF_X, BPF_ALU | BPF_MOD | BPF_K, BPF_ALU | BPF_LSH | BPF_X,
                BPF_ALU | BPF_NEG, JMP_JA, JMP_JEQ_K, JMP_JGT_K, BPF_JMP | BPF_JSET | BPF_X,
                BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA, RET_A,
            ]), any::<u8>(), any::<u8>(), 0u32..80),
            1..32),
        pkt in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let prog: Vec<Insn> = prog.into_iter().map(|(c, t, f, k)| Insn::new(c, t, f, k)).collect();
        let _ = run(&prog, &pkt);
    }
}
