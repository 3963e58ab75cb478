/*
 * switch.S - context switch for AArch64, AAPCS64 (see arch/ctx.h).
 *
 * A suspended context is one word, its stack pointer. Everything else it
 * needs is on that stack, in this 176-byte frame (offsets from the saved sp):
 *
 *     0   x19 x20       48  x25 x26       96  d8  d9      144  d14 d15
 *    16   x21 x22       64  x27 x28      112  d10 d11     160  FPCR, pad
 *    32   x23 x24       80  x29 x30      128  d12 d13
 *
 * That is exactly the state AAPCS64 makes callee-saved: x19-x28, the frame
 * pointer x29, the link register x30 (our return address), the low 64 bits
 * of v8-v15 (d8-d15; the upper halves are caller-saved), and FPCR, whose
 * rounding mode and trap enables a callee must preserve. FPSR holds only
 * cumulative status flags, which are caller-saved, so it is not saved.
 * The rest of the SVE registers is caller-saved, so it is not saved either.
 * SME (streaming mode, ZA) is not supported: a switch with ZA live or a
 * lazy save pending would need the TPIDR2 protocol, and nothing here uses it.
 *
 * Invariants:
 *   - sp stays 16-byte aligned (the architecture checks it on every sp-based
 *     access) and always points into a live stack with the data still needed
 *     above it: the frame is complete before sp is published in from->sp,
 *     and sp moves to the other stack in one instruction, with that stack's
 *     frame already sitting above it. A signal can arrive at any instruction.
 *   - FPCR is written only when it differs. An FPCR write can stall the
 *     pipeline on some cores, goroutines almost never change it, and the
 *     compare is against the value already read for the save, so the test
 *     costs one compare and a well-predicted branch. (glibc's AArch64 fenv
 *     code skips unchanged FPCR writes for the same reason. Not timed on
 *     hardware: this file was tested under qemu-user.)
 *
 * gort__ctx_init writes the frame a switch would have left, with x30
 * pointing at gort__ctx_start, entry in x19 and arg in x20, so the first
 * switch to a new context needs no special case. The initial FPCR is 0 (the
 * ABI default: round to nearest, no traps, no flush-to-zero) rather than a
 * copy of the creator's: a goroutine is created from whichever goroutine or
 * scheduler stack happened to run the spawn, and its floating-point
 * behaviour must not depend on that. (POSIX threads do inherit the creator's
 * environment; code that wants that sets it in "entry".)
 *
 * Branch protection: with -mbranch-protection=bti the compiler defines
 * __ARM_FEATURE_BTI_DEFAULT; we then start each callable function with
 * "bti c" and mark the object BTI compatible. gort__ctx_start is only ever
 * reached by "ret", which BTI does not check. We neither sign nor
 * authenticate return addresses (PAC): the values we save are restored
 * unchanged, so a signed x30 of a caller survives the switch untouched.
 */
#if defined(__aarch64__)

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define GORT__BTI_C bti c
#else
#define GORT__BTI_C
#endif

#define GORT__FRAME 176

	.text

/* gort__ctx_pass gort__ctx_switch(gort__ctx *from [x0], gort__ctx *to [x1],
 *                                  void *a [x2], void *b [x3])
 * returns [x0, x1] the a and b of the switch that resumes from. */
	.globl	gort__ctx_switch
	.hidden	gort__ctx_switch
	.type	gort__ctx_switch, %function
	.p2align 4
gort__ctx_switch:
	.cfi_startproc
	GORT__BTI_C
	sub	sp, sp, #GORT__FRAME
	.cfi_adjust_cfa_offset GORT__FRAME
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	.cfi_rel_offset x19, 0
	.cfi_rel_offset x20, 8
	.cfi_rel_offset x21, 16
	.cfi_rel_offset x22, 24
	.cfi_rel_offset x23, 32
	.cfi_rel_offset x24, 40
	.cfi_rel_offset x25, 48
	.cfi_rel_offset x26, 56
	.cfi_rel_offset x27, 64
	.cfi_rel_offset x28, 72
	.cfi_rel_offset x29, 80
	.cfi_rel_offset x30, 88
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	.cfi_rel_offset d8, 96
	.cfi_rel_offset d9, 104
	.cfi_rel_offset d10, 112
	.cfi_rel_offset d11, 120
	.cfi_rel_offset d12, 128
	.cfi_rel_offset d13, 136
	.cfi_rel_offset d14, 144
	.cfi_rel_offset d15, 152
	mrs	x9, fpcr
	str	x9, [sp, #160]
	/* The frame is complete: publish it, then become the other context.
	 * The CFI above stays right after the swap, because the other stack
	 * holds a frame of the same shape. */
	mov	x10, sp
	str	x10, [x0]
	ldr	x10, [x1]
	/* a and b ride across in the return registers, which nothing below
	 * touches */
	mov	x0, x2
	mov	x1, x3
	mov	sp, x10
	ldr	x10, [sp, #160]
	cmp	x9, x10
	b.eq	1f
	msr	fpcr, x10
1:
	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	add	sp, sp, #GORT__FRAME
	.cfi_adjust_cfa_offset -GORT__FRAME
	.cfi_restore x19
	.cfi_restore x20
	.cfi_restore x21
	.cfi_restore x22
	.cfi_restore x23
	.cfi_restore x24
	.cfi_restore x25
	.cfi_restore x26
	.cfi_restore x27
	.cfi_restore x28
	.cfi_restore x29
	.cfi_restore x30
	.cfi_restore d8
	.cfi_restore d9
	.cfi_restore d10
	.cfi_restore d11
	.cfi_restore d12
	.cfi_restore d13
	.cfi_restore d14
	.cfi_restore d15
	ret
	.cfi_endproc
	.size	gort__ctx_switch, .-gort__ctx_switch

/* void gort__ctx_init(gort__ctx *c [x0], void *lo [x1], size_t size [x2],
 *                     void (*entry)(void *, gort__ctx_pass) [x3],
 *                     void *arg [x4])
 * The caller guarantees size covers at least the 176-byte frame plus
 * whatever entry needs; nothing below "lo" is touched. */
	.globl	gort__ctx_init
	.hidden	gort__ctx_init
	.type	gort__ctx_init, %function
	.p2align 4
gort__ctx_init:
	.cfi_startproc
	GORT__BTI_C
	add	x9, x1, x2
	and	x9, x9, #~15		/* top of stack, 16-aligned */
	sub	x9, x9, #GORT__FRAME
	stp	x3, x4, [x9, #0]	/* x19 = entry, x20 = arg */
	stp	xzr, xzr, [x9, #16]
	stp	xzr, xzr, [x9, #32]
	stp	xzr, xzr, [x9, #48]
	stp	xzr, xzr, [x9, #64]
	adr	x10, gort__ctx_start
	stp	xzr, x10, [x9, #80]	/* x29 = 0: frame-record walks end */
	stp	xzr, xzr, [x9, #96]
	stp	xzr, xzr, [x9, #112]
	stp	xzr, xzr, [x9, #128]
	stp	xzr, xzr, [x9, #144]
	stp	xzr, xzr, [x9, #160]	/* FPCR = 0 */
	str	x9, [x0]
	ret
	.cfi_endproc
	.size	gort__ctx_init, .-gort__ctx_init

/* First code a new context runs, reached by the "ret" of its first switch,
 * with sp at the 16-aligned top as the ABI requires at a call. x29 is 0, so
 * the frame record entry pushes ends any frame-pointer walk; entry gets the
 * first switch's a and b as its second argument. The return
 * address is marked undefined so CFI unwinders (gdb, libgcc, libunwind) stop
 * here instead of walking into garbage. */
	.type	gort__ctx_start, %function
	.p2align 4
gort__ctx_start:
	.cfi_startproc
	.cfi_undefined x30
	mov	x2, x1			/* entry(arg, pass): pass in x1, x2 */
	mov	x1, x0
	mov	x0, x20
	blr	x19
	brk	#0x1			/* entry returned: the contract forbids it */
	.cfi_endproc
	.size	gort__ctx_start, .-gort__ctx_start

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
/* NT_GNU_PROPERTY_TYPE_0 note: GNU_PROPERTY_AARCH64_FEATURE_1_AND = BTI. */
	.section .note.gnu.property, "a"
	.p2align 3
	.long	4			/* name size */
	.long	16			/* descriptor size */
	.long	5			/* NT_GNU_PROPERTY_TYPE_0 */
	.asciz	"GNU"
	.long	0xc0000000		/* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
	.long	4			/* data size */
	.long	1			/* GNU_PROPERTY_AARCH64_FEATURE_1_BTI */
	.p2align 3
#endif

#endif /* __aarch64__ */

	.section .note.GNU-stack, "", %progbits
