// core/multiversion.h: hot loops compiled for three x86-64 levels in one portable binary.
// A function marked NORMLAB_MULTIVERSION is compiled for x86-64-v4 (AVX-512), x86-64-v3 (AVX2 +
// FMA) and the baseline, and the dynamic linker picks the best one for the running processor once,
// at load time (GCC and clang "target_clones", an ifunc). Mark only non-template leaf functions
// without OpenMP parallel regions in them (clang 14 rejects templates; an outlined parallel
// region would not be cloned): the per-set or per-row kernels that a parallel loop calls.
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NORMLAB_MULTIVERSION \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NORMLAB_MULTIVERSION
#endif
