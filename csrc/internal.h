/* Internal helpers shared by the kernel files: architecture switches and per-function targets. */
#ifndef WSFAST_INTERNAL_H
#define WSFAST_INTERNAL_H

#include "wsfast.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(_M_AMD64)
#define WSF_X86_64 1
#endif

#if defined(__aarch64__) || defined(_M_ARM64)
#define WSF_ARM64 1
#endif

/*
 * GCC and Clang compile one function for a newer instruction set with a target attribute, so the
 * whole file needs no extra flags; MSVC accepts the intrinsics anywhere.
 */
#if defined(__GNUC__) || defined(__clang__)
#define WSF_TARGET(isa) __attribute__((target(isa)))
#else
#define WSF_TARGET(isa)
#endif

#define WSF_TARGET_AVX2 WSF_TARGET("avx2")
#define WSF_TARGET_AVX512 WSF_TARGET("avx512f,avx512bw")

/* Kernel selection, called by wsf_simd_select with a level the CPU supports. */
void wsf__mask_select(wsf_simd_level level);
void wsf__utf8_select(wsf_simd_level level);

/* Make sure a level has been selected (the first kernel call does it). */
void wsf__ensure_selected(void);

#endif
