//! Classic BPF (the socket filter language of `SO_ATTACH_FILTER`): the
//! instruction type, its opcodes, a program builder whose jumps name labels,
//! and an interpreter.
//!
//! Hand-counted jump offsets are where filters go wrong, so programs are
//! written with [`Program`]: jumps name a [`Label`], placed later, and
//! [`Program::build`] turns them into offsets, refusing (rather than
//! silently encoding 0, which jumps to the next instruction) a label never
//! placed, a backward jump, or a conditional offset beyond 255.
//!
//! [`run`] executes a program the way the kernel does, on the packet as a
//! filter sees it, so filters are tested on sample packets without a
//! socket or privilege. It is total: on any program and any packet it
//! returns the accepted length or 0, and never panics; an unknown opcode,
//! a jump out of the program or running off its end rejects the packet.
//! The opcodes are the values of linux/filter.h.

/// One instruction, with the layout of the kernel's `struct sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct Insn {
    pub code: u16,
    /// Conditional jumps: instructions skipped when the test holds.
    pub jt: u8,
    /// Conditional jumps: instructions skipped when it does not.
    pub jf: u8,
    pub k: u32,
}

impl Insn {
    pub const fn new(code: u16, jt: u8, jf: u8, k: u32) -> Self {
        Insn { code, jt, jf, k }
    }
}

// Instruction classes.
pub const BPF_LD: u16 = 0x00;
pub const BPF_LDX: u16 = 0x01;
pub const BPF_ST: u16 = 0x02;
pub const BPF_STX: u16 = 0x03;
pub const BPF_ALU: u16 = 0x04;
pub const BPF_JMP: u16 = 0x05;
pub const BPF_RET: u16 = 0x06;
pub const BPF_MISC: u16 = 0x07;
// Load sizes.
pub const BPF_W: u16 = 0x00;
pub const BPF_H: u16 = 0x08;
pub const BPF_B: u16 = 0x10;
// Load modes.
pub const BPF_IMM: u16 = 0x00;
pub const BPF_ABS: u16 = 0x20;
pub const BPF_IND: u16 = 0x40;
pub const BPF_MEM: u16 = 0x60;
pub const BPF_LEN: u16 = 0x80;
pub const BPF_MSH: u16 = 0xa0;
// ALU operations.
pub const BPF_ADD: u16 = 0x00;
pub const BPF_SUB: u16 = 0x10;
pub const BPF_MUL: u16 = 0x20;
pub const BPF_DIV: u16 = 0x30;
pub const BPF_OR: u16 = 0x40;
pub const BPF_AND: u16 = 0x50;
pub const BPF_LSH: u16 = 0x60;
pub const BPF_RSH: u16 = 0x70;
pub const BPF_NEG: u16 = 0x80;
pub const BPF_MOD: u16 = 0x90;
pub const BPF_XOR: u16 = 0xa0;
// Jumps.
pub const BPF_JA: u16 = 0x00;
pub const BPF_JEQ: u16 = 0x10;
pub const BPF_JGT: u16 = 0x20;
pub const BPF_JGE: u16 = 0x30;
pub const BPF_JSET: u16 = 0x40;
// Operand source of ALU and jumps; return value source.
pub const BPF_K: u16 = 0x00;
pub const BPF_X: u16 = 0x08;
pub const BPF_A: u16 = 0x10;
// Register transfers.
pub const BPF_TAX: u16 = 0x00;
pub const BPF_TXA: u16 = 0x80;

// The combinations filters use most, spelled as in tcpdump -d.
pub const LD_W_ABS: u16 = BPF_LD | BPF_W | BPF_ABS;
pub const LD_H_ABS: u16 = BPF_LD | BPF_H | BPF_ABS;
pub const LD_B_ABS: u16 = BPF_LD | BPF_B | BPF_ABS;
pub const LD_W_IND: u16 = BPF_LD | BPF_W | BPF_IND;
pub const LD_H_IND: u16 = BPF_LD | BPF_H | BPF_IND;
pub const LD_B_IND: u16 = BPF_LD | BPF_B | BPF_IND;
pub const LD_IMM: u16 = BPF_LD | BPF_IMM;
pub const LD_LEN: u16 = BPF_LD | BPF_W | BPF_LEN;
pub const LDX_IMM: u16 = BPF_LDX | BPF_IMM;
pub const LDX_LEN: u16 = BPF_LDX | BPF_W | BPF_LEN;
/// X = 4 * (P[k] & 0xf): the IPv4 header length.
pub const LDX_B_MSH: u16 = BPF_LDX | BPF_B | BPF_MSH;
pub const ALU_AND_K: u16 = BPF_ALU | BPF_AND | BPF_K;
pub const ALU_RSH_K: u16 = BPF_ALU | BPF_RSH | BPF_K;
pub const JMP_JA: u16 = BPF_JMP | BPF_JA;
pub const JMP_JEQ_K: u16 = BPF_JMP | BPF_JEQ | BPF_K;
pub const JMP_JGT_K: u16 = BPF_JMP | BPF_JGT | BPF_K;
pub const JMP_JGE_K: u16 = BPF_JMP | BPF_JGE | BPF_K;
pub const JMP_JSET_K: u16 = BPF_JMP | BPF_JSET | BPF_K;
pub const RET_K: u16 = BPF_RET | BPF_K;
pub const RET_A: u16 = BPF_RET | BPF_A;

/// The kernel's limit on a program's length (BPF_MAXINSNS).
pub const MAX_INSNS: usize = 4096;
/// Words of scratch memory (BPF_MEMWORDS).
pub const MEM_WORDS: usize = 16;

/// A jump destination of a [`Program`], placed with [`Program::place`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Label(usize);

/// Where a conditional jump goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The next instruction (offset 0).
    Next,
    To(Label),
}

impl From<Label> for Target {
    fn from(label: Label) -> Self {
        Target::To(label)
    }
}

/// Why [`Program::build`] refused a program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("BPF label {0} is used but never placed")]
    Unplaced(usize),
    #[error("BPF label {0} is placed twice")]
    PlacedTwice(usize),
    #[error("BPF label {label} is placed after the last instruction (jump from {from} leaves the program)")]
    PastEnd { label: usize, from: usize },
    #[error(
        "BPF jump from instruction {from} to {to} goes backwards (classic BPF jumps forward only)"
    )]
    Backward { from: usize, to: usize },
    #[error(
        "BPF conditional jump from instruction {from} skips {offset} instructions; at most 255 fit"
    )]
    TooFar { from: usize, offset: usize },
    #[error("BPF program of {0} instructions: between 1 and 4096 are allowed")]
    Length(usize),
}

#[derive(Debug, Clone, Copy)]
enum Pending {
    Plain(Insn),
    Cond {
        code: u16,
        k: u32,
        jt: Target,
        jf: Target,
    },
    Always(Label),
}

/// A program under construction (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct Program {
    insns: Vec<Pending>,
    /// Position of each label, once placed.
    labels: Vec<Option<usize>>,
    /// A label placed twice (reported by `build`).
    placed_twice: Option<usize>,
}

impl Program {
    pub fn new() -> Self {
        Self::default()
    }

    /// A new label, to be placed once with [`Program::place`].
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Places `label` at the next instruction added.
    pub fn place(&mut self, label: Label) -> &mut Self {
        match self.labels.get_mut(label.0) {
            Some(slot @ None) => *slot = Some(self.insns.len()),
            _ => {
                self.placed_twice.get_or_insert(label.0);
            }
        }
        self
    }

    /// A non-jump instruction.
    pub fn op(&mut self, code: u16, k: u32) -> &mut Self {
        self.insns.push(Pending::Plain(Insn::new(code, 0, 0, k)));
        self
    }

    /// A conditional jump (`code` is `BPF_JMP | test | source`).
    pub fn jump(
        &mut self,
        code: u16,
        k: u32,
        jt: impl Into<Target>,
        jf: impl Into<Target>,
    ) -> &mut Self {
        self.insns.push(Pending::Cond {
            code,
            k,
            jt: jt.into(),
            jf: jf.into(),
        });
        self
    }

    /// `jeq #k, jt, jf`.
    pub fn jeq(&mut self, k: u32, jt: impl Into<Target>, jf: impl Into<Target>) -> &mut Self {
        self.jump(JMP_JEQ_K, k, jt, jf)
    }

    /// `jset #k, jt, jf`.
    pub fn jset(&mut self, k: u32, jt: impl Into<Target>, jf: impl Into<Target>) -> &mut Self {
        self.jump(JMP_JSET_K, k, jt, jf)
    }

    /// An unconditional jump (its offset is 32 bits wide).
    pub fn ja(&mut self, to: Label) -> &mut Self {
        self.insns.push(Pending::Always(to));
        self
    }

    /// `ret #k`: accept `k` bytes (0 drops).
    pub fn ret(&mut self, k: u32) -> &mut Self {
        self.op(RET_K, k)
    }

    /// The instructions, every label resolved to a forward offset.
    pub fn build(&self) -> Result<Vec<Insn>, BuildError> {
        if let Some(label) = self.placed_twice {
            return Err(BuildError::PlacedTwice(label));
        }
        let len = self.insns.len();
        if len == 0 || len > MAX_INSNS {
            return Err(BuildError::Length(len));
        }
        // Instructions skipped by a jump from `from` to `label`.
        let skip = |from: usize, label: Label| -> Result<usize, BuildError> {
            let to = self
                .labels
                .get(label.0)
                .copied()
                .flatten()
                .ok_or(BuildError::Unplaced(label.0))?;
            if to >= len {
                return Err(BuildError::PastEnd {
                    label: label.0,
                    from,
                });
            }
            to.checked_sub(from + 1)
                .ok_or(BuildError::Backward { from, to })
        };
        let short = |from: usize, target: Target| -> Result<u8, BuildError> {
            match target {
                Target::Next => Ok(0),
                Target::To(label) => {
                    let offset = skip(from, label)?;
                    u8::try_from(offset).map_err(|_| BuildError::TooFar { from, offset })
                }
            }
        };
        self.insns
            .iter()
            .enumerate()
            .map(|(at, pending)| match *pending {
                Pending::Plain(insn) => Ok(insn),
                Pending::Cond { code, k, jt, jf } => {
                    Ok(Insn::new(code, short(at, jt)?, short(at, jf)?, k))
                }
                Pending::Always(label) => {
                    let offset = skip(at, label)?;
                    // At most MAX_INSNS: always fits.
                    let k = u32::try_from(offset).unwrap_or(u32::MAX);
                    Ok(Insn::new(JMP_JA, 0, 0, k))
                }
            })
            .collect()
    }
}

/// Runs `prog` over `pkt` (the bytes a filter sees): the number of bytes
/// to accept, 0 to drop. Loads beyond the packet drop it, as in the kernel;
/// so do division by zero and anything the kernel's checker would refuse
/// (unknown opcode, jump out of the program, scratch word out of range,
/// running off the end).
pub fn run(prog: &[Insn], pkt: &[u8]) -> u32 {
    run_checked(prog, pkt).unwrap_or(0)
}

/// `size` bytes at `off` as a big-endian number, if all are in `pkt`.
fn load(pkt: &[u8], off: u64, size: usize) -> Option<u32> {
    let off = usize::try_from(off).ok()?;
    let bytes = pkt.get(off..off.checked_add(size)?)?;
    Some(bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
}

fn size_of_load(code: u16) -> Option<usize> {
    match code & 0x18 {
        BPF_W => Some(4),
        BPF_H => Some(2),
        BPF_B => Some(1),
        _ => None,
    }
}

fn alu(op: u16, a: u32, operand: u32) -> Option<u32> {
    Some(match op {
        BPF_ADD => a.wrapping_add(operand),
        BPF_SUB => a.wrapping_sub(operand),
        BPF_MUL => a.wrapping_mul(operand),
        BPF_DIV => a.checked_div(operand)?,
        BPF_MOD => a.checked_rem(operand)?,
        BPF_OR => a | operand,
        BPF_AND => a & operand,
        BPF_XOR => a ^ operand,
        BPF_LSH => a.checked_shl(operand).unwrap_or(0),
        BPF_RSH => a.checked_shr(operand).unwrap_or(0),
        BPF_NEG => a.wrapping_neg(),
        _ => return None,
    })
}

/// [`run`], with `None` for every way of dropping other than `ret #0`.
fn run_checked(prog: &[Insn], pkt: &[u8]) -> Option<u32> {
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; MEM_WORDS];
    let mut pc = 0usize;
    // Every instruction moves pc forward by at least one, so this ends.
    loop {
        let insn = *prog.get(pc)?;
        pc += 1;
        // Classic opcodes are 8 bits wide; the rest of the field is unused.
        if insn.code > 0xff {
            return None;
        }
        let k = insn.k;
        let src = if insn.code & BPF_X != 0 { x } else { k };
        match insn.code & 0x07 {
            BPF_LD => {
                a = match insn.code & 0xe0 {
                    BPF_ABS => load(pkt, u64::from(k), size_of_load(insn.code)?)?,
                    BPF_IND => load(pkt, u64::from(x) + u64::from(k), size_of_load(insn.code)?)?,
                    BPF_IMM if insn.code == LD_IMM => k,
                    BPF_LEN if insn.code == LD_LEN => u32::try_from(pkt.len()).ok()?,
                    BPF_MEM if insn.code & 0x18 == BPF_W => *mem.get(usize::try_from(k).ok()?)?,
                    _ => return None,
                }
            }
            BPF_LDX => {
                x = match insn.code {
                    LDX_IMM => k,
                    LDX_LEN => u32::try_from(pkt.len()).ok()?,
                    LDX_B_MSH => 4 * (load(pkt, u64::from(k), 1)? & 0xf),
                    c if c == BPF_LDX | BPF_W | BPF_MEM => *mem.get(usize::try_from(k).ok()?)?,
                    _ => return None,
                }
            }
            BPF_ST if insn.code == BPF_ST => *mem.get_mut(usize::try_from(k).ok()?)? = a,
            BPF_STX if insn.code == BPF_STX => *mem.get_mut(usize::try_from(k).ok()?)? = x,
            BPF_ALU => a = alu(insn.code & 0xf0, a, src)?,
            BPF_JMP => {
                let skip = match insn.code & 0xf0 {
                    BPF_JA if insn.code == JMP_JA => usize::try_from(k).ok()?,
                    test => {
                        let holds = match test {
                            BPF_JEQ => a == src,
                            BPF_JGT => a > src,
                            BPF_JGE => a >= src,
                            BPF_JSET => a & src != 0,
                            _ => return None,
                        };
                        usize::from(if holds { insn.jt } else { insn.jf })
                    }
                };
                pc = pc.checked_add(skip)?;
                // A jump must land on an instruction.
                prog.get(pc)?;
            }
            BPF_RET => {
                return match insn.code {
                    RET_K => Some(k),
                    RET_A => Some(a),
                    _ => None,
                }
            }
            BPF_MISC => match insn.code {
                c if c == BPF_MISC | BPF_TAX => x = a,
                c if c == BPF_MISC | BPF_TXA => a = x,
                _ => return None,
            },
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests;
