/* SPDX-License-Identifier: MIT */
/* attach/test_targets_asm.S: hand-written probe targets whose first bytes
 * the relocation tests depend on (RIP-relative operands, branches, functions
 * too short for a jmp, endbr64, live flags and red zone inside a function). */
	.intel_syntax noprefix
	.text

	.data
	.balign 8
	.globl asm_data
asm_data:
	.quad 1000
	.text

#define FUNC(name) .globl name; .type name, @function; .balign 16; name:
#define END(name) .size name, . - name

FUNC(asm_rip_load)
	mov rax, qword ptr [rip + asm_data]
	add rax, rdi
	ret
END(asm_rip_load)

FUNC(asm_rip_lea)
	lea rax, [rip + asm_data]
	mov rax, qword ptr [rax]
	add rax, rdi
	ret
END(asm_rip_lea)

/* cmp with an immediate after the displacement: returns x + 1 when asm_data != 0 */
FUNC(asm_rip_cmp)
	cmp qword ptr [rip + asm_data], 0
	je 1f
	lea rax, [rdi + 1]
	ret
1:	mov rax, rdi
	ret
END(asm_rip_cmp)

FUNC(asm_branch_first)
	test rdi, rdi
	jz 1f
	mov eax, 2
	ret
1:	mov eax, 1
	ret
END(asm_branch_first)

asm_helper_inc:
	lea rax, [rdi + 1]
	ret

FUNC(asm_call_first)
	call asm_helper_inc
	ret
END(asm_call_first)

/* The loop jumps back to +2, inside the 5 bytes a jmp would cover. */
FUNC(asm_loop_back)
	xor eax, eax
2:	add rax, 1
	cmp rax, rdi
	jl 2b
	ret
END(asm_loop_back)

FUNC(asm_ret_only)
	ret
END(asm_ret_only)

FUNC(asm_xor_ret)
	xor eax, eax
	ret
END(asm_xor_ret)

FUNC(asm_lea_ret)
	lea eax, [rdi + 1]
	ret
END(asm_lea_ret)

FUNC(asm_endbr_add)
	endbr64
	lea rax, [rdi + rsi]
	nop
	nop
	ret
END(asm_endbr_add)

/* Spins until asm_spin_stop != 0, with the loop's back edge at the entry:
 * a thread is often at +2, inside the bytes a jmp overwrites.  Returns the
 * number of iterations. */
	.data
	.globl asm_spin_stop
asm_spin_stop:
	.byte 0
	.text
FUNC(asm_spin)
	xor ecx, ecx
	.globl asm_spin_loop
asm_spin_loop:
	pause
	mov al, byte ptr [rip + asm_spin_stop]
	add rcx, 1
	test al, al
	jz asm_spin_loop
	mov rax, rcx
	ret
END(asm_spin)

/* the symbol covers 3 bytes; the code falls through into the next one */
FUNC(asm_size_only)
	xor eax, eax
	nop
END(asm_size_only)
asm_size_tail:
	add rax, rdi
	ret

/* returns a < b; the flags of the cmp are live at the probe */
FUNC(asm_flags_mid)
	cmp rdi, rsi
	.globl asm_flags_mid_probe
asm_flags_mid_probe:
	mov eax, 0
	setl al
	ret
END(asm_flags_mid)

/* the same shape, probed through module + offset only */
FUNC(asm_mid2)
	cmp rdi, rsi
	.globl asm_mid2_probe
asm_mid2_probe:
	mov eax, 0
	setl al
	ret
END(asm_mid2)

/* out[0..3] = 2 * in[0..3] with the doubles in ymm1 across the probe */
FUNC(asm_avx_mid)
	vmovupd ymm1, ymmword ptr [rdi]
	.globl asm_avx_mid_probe
asm_avx_mid_probe:
	vaddpd ymm1, ymm1, ymm1
	vmovupd ymmword ptr [rsi], ymm1
	vzeroupper
	ret
END(asm_avx_mid)

/* a leaf keeping a and b in the red zone across the probe: returns a + b */
FUNC(asm_redzone_mid)
	mov qword ptr [rsp - 8], rdi
	mov qword ptr [rsp - 16], rsi
	xor edi, edi
	xor esi, esi
	.globl asm_redzone_mid_probe
asm_redzone_mid_probe:
	mov rax, qword ptr [rsp - 8]
	add rax, qword ptr [rsp - 16]
	ret
END(asm_redzone_mid)

	.section .note.GNU-stack, "", @progbits
