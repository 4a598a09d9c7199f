// CBLAS from the scipy-openblas32 wheel, whose symbols carry the prefix "scipy_".
#pragma once

#ifdef AUGDROP_BLAS_SCIPY_PREFIX
#include <cblas.h>
#define AD_CBLAS(name) scipy_cblas_##name
#else
#include <cblas.h>
#define AD_CBLAS(name) cblas_##name
#endif
