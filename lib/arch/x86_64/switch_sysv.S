/*
 * switch_sysv.S - context switch for x86-64, System V ABI (see arch/ctx.h).
 *
 * A suspended context is one word, its stack pointer. Everything else it
 * needs is on that stack, in this frame (offsets from the saved sp):
 *
 *     0   MXCSR                 (4 bytes)
 *     4   x87 control word      (2 bytes, 2 bytes padding)
 *     8   r15
 *    16   r14
 *    24   r13
 *    32   r12
 *    40   rbx
 *    48   rbp
 *    56   return address
 *
 * That is exactly the state the psABI makes callee-saved: rbx, rbp, r12-r15,
 * the control bits of MXCSR and the x87 control word. No xmm register is
 * callee-saved on System V, so none is saved. MXCSR is stored and loaded
 * whole: its status bits are caller-saved, so whatever value they come back
 * with is allowed, and masking them would cost instructions on every switch.
 *
 * Invariants:
 *   - rsp always points into a live stack and never above data still
 *     needed: the frame is complete before rsp is published in from->sp, and
 *     rsp moves to the other stack in one instruction, with that stack's
 *     frame already sitting above it. A signal can arrive at any instruction.
 *   - The saved sp is 16-byte aligned (the caller's call left rsp at 8 mod
 *     16, the frame is 56 bytes more). gort__ctx_init builds the same shape.
 *
 * gort__ctx_init writes the frame a switch would have left, with the return
 * address pointing at gort__ctx_start, entry in r12 and arg in r13, so the
 * first switch to a new context restores it like any other (only its last
 * instruction differs, below). The initial MXCSR
 * (0x1F80) and x87 control word (0x037F) are the ABI defaults rather than a
 * copy of the creator's: a goroutine is created from whichever goroutine or
 * scheduler stack happened to run the spawn, and its floating-point
 * behaviour must not depend on that. (POSIX threads do inherit the creator's
 * environment; code that wants that sets it in "entry".)
 *
 * Rejected: moving the frame through a separate register save area in the
 * context struct (fatter struct, same number of stores); skipping the FP
 * control words (breaks any goroutine that calls fesetround, because
 * another goroutine on the same thread would inherit its rounding mode);
 * comparing the control words to skip the loads when they match (on an
 * AMD EPYC, two contexts switching in a loop: 6.8-7.4 ns a switch against
 * 5.5 for loading them always, because reading back what stmxcsr just
 * stored stalls). Saving and loading the control words costs about 1 ns of
 * those 5.5 ns (4.5 without); in a whole gort_yield the difference is
 * below the noise.
 *
 * The two words a and b (arch/ctx.h) ride in rax and rdx, the registers a
 * two-word struct is returned in: two moves, and the scheduler's direct
 * switch hands the next goroutine its M and the goroutine it replaced
 * without storing them and loading them back on the other side. That cut
 * a yield at one P from 11.3-11.6 to 9.6-10.2 ns on the same EPYC, with
 * the fast path that keeps only one register live across the switch.
 *
 * A switch ends with ret when the context it resumes was switched away
 * (ret pops the entry the call to this function pushed, and the return
 * stack predicts it when both sides switched from the same call site, as
 * two yielding goroutines do), and with a jump when it starts a new
 * context: ret would always mispredict there. Same EPYC, bench/spawn wg
 * (each goroutine starts once and ends into the next): 46.4 -> 37.1 ns a
 * goroutine at one P, 49.6 -> 38.1 at two (medians of 7 and 5); yield
 * unchanged (10.2 -> 9.9). Rejected: jumping always (the unpopped entry
 * then mispredicts every later ret: yield went from 9.7 to 18.3 ns).
 *
 * Intel CET: with -fcf-protection the compiler defines __CET__; we then
 * start each callable function with endbr64 and mark the object IBT
 * compatible. We do not mark it shadow-stack compatible: a switch returns
 * on another stack to an address the shadow stack never saw, so the linker
 * must turn SHSTK off for any binary that contains this file.
 */
#if defined(__x86_64__)

#if defined(__CET__) && (__CET__ & 1)
#define GORT__ENDBR endbr64
#else
#define GORT__ENDBR
#endif

#define GORT__MXCSR_DEFAULT 0x1F80 /* all exceptions masked, round nearest */
#define GORT__FPCW_DEFAULT 0x037F  /* same, 64-bit precision (Linux default) */

	.text

/* gort__ctx_pass gort__ctx_switch(gort__ctx *from [rdi], gort__ctx *to [rsi],
 *                                  void *a [rdx], void *b [rcx])
 * returns [rax:rdx] the a and b of the switch that resumes from. */
	.globl	gort__ctx_switch
	.hidden	gort__ctx_switch
	.type	gort__ctx_switch, %function
	.p2align 4
gort__ctx_switch:
	.cfi_startproc
	GORT__ENDBR
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbp, 0
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbx, 0
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r12, 0
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r13, 0
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r14, 0
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r15, 0
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	/* a and b ride across in the return registers, which nothing below
	 * touches */
	movq	%rdx, %rax
	movq	%rcx, %rdx
	/* The frame is complete: publish it, then become the other context.
	 * The CFI above stays right after the swap, because the other stack
	 * holds a frame of the same shape. */
	movq	%rsp, (%rdi)
	movq	(%rsi), %rsp
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%r15
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r15
	popq	%r14
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r14
	popq	%r13
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r13
	popq	%r12
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r12
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbx
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbp
	/* A context that was switched away returns to its call of this
	 * function; a new one goes to gort__ctx_start by a jump, which the
	 * indirect predictor learns, where a ret would always mispredict (see
	 * the top of this file). */
	leaq	gort__ctx_start(%rip), %rcx
	cmpq	%rcx, (%rsp)
	je	1f
	ret
1:	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	.cfi_register %rip, %rcx
	jmp	*%rcx
	.cfi_endproc
	.size	gort__ctx_switch, .-gort__ctx_switch

/* void gort__ctx_init(gort__ctx *c [rdi], void *lo [rsi], size_t size [rdx],
 *                     void (*entry)(void *, gort__ctx_pass) [rcx],
 *                     void *arg [r8])
 * The caller guarantees size covers at least the 64-byte frame plus
 * whatever entry needs; nothing below "lo" is touched. */
	.globl	gort__ctx_init
	.hidden	gort__ctx_init
	.type	gort__ctx_init, %function
	.p2align 4
gort__ctx_init:
	.cfi_startproc
	GORT__ENDBR
	leaq	(%rsi,%rdx), %rax
	andq	$-16, %rax		/* top of stack, 16-aligned */
	leaq	gort__ctx_start(%rip), %rdx
	movq	%rdx, -8(%rax)		/* return address */
	xorl	%edx, %edx
	movq	%rdx, -16(%rax)		/* rbp = 0: frame-pointer walks end */
	movq	%rdx, -24(%rax)		/* rbx */
	movq	%rcx, -32(%rax)		/* r12 = entry */
	movq	%r8, -40(%rax)		/* r13 = arg */
	movq	%rdx, -48(%rax)		/* r14 */
	movq	%rdx, -56(%rax)		/* r15 */
	movl	$GORT__MXCSR_DEFAULT, -64(%rax)
	movl	$GORT__FPCW_DEFAULT, -60(%rax)
	subq	$64, %rax
	movq	%rax, (%rdi)
	ret
	.cfi_endproc
	.size	gort__ctx_init, .-gort__ctx_init

/* First code a new context runs, reached by the jump that ends its first
 * switch, with rsp at the 16-aligned top, so the call leaves rsp+8 aligned
 * at entry as the ABI requires. entry(arg, pass) gets that switch's a and b
 * as its second argument, a struct of two words, passed in rsi and rdx.
 * Never called, so it has no symbol outside this file; it starts with
 * endbr64 under IBT, since it is reached by an indirect jump. The return
 * address is marked undefined so unwinders (gdb, libgcc, libunwind) stop
 * here instead of walking into garbage. */
	.type	gort__ctx_start, %function
	.p2align 4
gort__ctx_start:
	.cfi_startproc
	.cfi_undefined %rip
	GORT__ENDBR
	movq	%r13, %rdi
	movq	%rax, %rsi		/* pass.a; pass.b is in rdx already */
	callq	*%r12
	ud2				/* entry returned: the contract forbids it */
	.cfi_endproc
	.size	gort__ctx_start, .-gort__ctx_start

#if defined(__CET__) && (__CET__ & 1)
/* NT_GNU_PROPERTY_TYPE_0 note: GNU_PROPERTY_X86_FEATURE_1_AND = IBT only
 * (see the header comment for why not SHSTK). */
	.section .note.gnu.property, "a"
	.p2align 3
	.long	4			/* name size */
	.long	16			/* descriptor size */
	.long	5			/* NT_GNU_PROPERTY_TYPE_0 */
	.asciz	"GNU"
	.long	0xc0000002		/* GNU_PROPERTY_X86_FEATURE_1_AND */
	.long	4			/* data size */
	.long	1			/* GNU_PROPERTY_X86_FEATURE_1_IBT */
	.p2align 3
#endif

#endif /* __x86_64__ */

	.section .note.GNU-stack, "", %progbits
