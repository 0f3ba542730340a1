/* SPDX-License-Identifier: MIT */
/* attach/test_targets.h: functions the attach tests probe.  They live in
 * their own compilation units (test_targets.c, test_targets_asm.S) so calls
 * to them are real calls that the compiler cannot fold or inline. */
#ifndef BPFTIME_ATTACH_TEST_TARGETS_H
#define BPFTIME_ATTACH_TEST_TARGETS_H

#include <setjmp.h>
#include <stdint.h>

extern volatile long tgt_body_runs; /* incremented by the C targets' bodies */

long tgt_add6(long a, long b, long c, long d, long e, long f);
long tgt_square(long x);
long tgt_fact(long n);
long tgt_jumper(jmp_buf *jb, long depth);
double tgt_fma3(double a, double b, double c);
long tgt_loop_body(long x);

/* test_targets_asm.S */
extern int64_t asm_data;
int64_t asm_rip_load(int64_t x);     /* mov rax,[rip+asm_data]; add rax,rdi; ret */
int64_t asm_rip_lea(int64_t x);	     /* lea rax,[rip+asm_data]; mov rax,[rax]; add rax,rdi; ret */
int64_t asm_rip_cmp(int64_t x);	     /* cmp qword [rip+asm_data], 0 ... (imm after disp) */
int64_t asm_branch_first(int64_t x); /* test rdi,rdi; jz: 1 when 0, else 2 */
int64_t asm_call_first(int64_t x);   /* call asm_helper_inc first: x + 1 */
int64_t asm_loop_back(int64_t n);    /* jumps back into its first 5 bytes: n */
void asm_ret_only(void);	     /* ret */
int64_t asm_xor_ret(void);	     /* xor eax,eax; ret */
int64_t asm_lea_ret(int64_t x);	     /* lea eax,[rdi+1]; ret (4 bytes) */
int64_t asm_endbr_add(int64_t a, int64_t b); /* endbr64; lea rax,[rdi+rsi]; ...; ret */
extern volatile char asm_spin_stop;
int64_t asm_spin(void); /* loops with its back edge at asm_spin_loop */
extern char asm_spin_loop[];
int64_t asm_size_only(int64_t x);	     /* 3-byte symbol falling through: x */
int64_t asm_flags_mid(int64_t a, int64_t b); /* cmp; <probe>; mov eax,0; setl al; ret */
extern char asm_flags_mid_probe[];
int64_t asm_mid2(int64_t a, int64_t b); /* as asm_flags_mid */
extern char asm_mid2_probe[];
void asm_avx_mid(const double *in, double *out); /* AVX: 4 doubles doubled */
extern char asm_avx_mid_probe[];
int64_t asm_redzone_mid(int64_t a, int64_t b); /* stores in the red zone; <probe>; loads */
extern char asm_redzone_mid_probe[];

#endif
