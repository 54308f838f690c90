/* Error codes and the per-thread error detail. */
#include <stdio.h>

#include "guardian/core.h"

static _Thread_local char detail[512];

const char *gdn_strerror(int code)
{
    switch (code) {
    case GDN_OK: return "success";
    case GDN_EINVAL: return "invalid argument";
    case GDN_ENOMEM: return "out of memory";
    case GDN_EIO: return "I/O error";
    case GDN_EFORMAT: return "malformed input";
    case GDN_ERANGE: return "value out of range";
    case GDN_ECRYPTO: return "cryptographic failure";
    case GDN_ESTATE: return "invalid state";
    case GDN_EINTR: return "interrupted";
    case GDN_EINTERNAL: return "internal error";
    default: return "unknown error";
    }
}

const char *gdn_errmsg(void)
{
    return detail;
}

int gdn_error(int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return code;
}

void gdn_error_clear(void)
{
    detail[0] = '\0';
}
