/* he: AVX-512 IFMA NTT (placeholder until the vector path lands). */
#include "he/he_internal.h"

#if HE_X86
int he_ntt_ifma_ok(const he_ntt *t)
{
    (void)t;
    return 0;
}
void he_ntt_forward_ifma(const he_ntt *t, uint64_t *a) { he_ntt_forward_scalar(t, a); }
void he_ntt_inverse_ifma(const he_ntt *t, uint64_t *a) { he_ntt_inverse_scalar(t, a); }
#endif
