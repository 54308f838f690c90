/* ml model files: safetensors round trips, the header layout, and rejection
 * of corrupt files with a detail that names the file and the problem. */
#include <stdlib.h>
#include <string.h>

#include "guardian/core.h"
#include "guardian/ml.h"
#include "harness.h"

/* Saves a freshly initialised model, loads it back, and compares. */
static void round_trip(const char *spec, size_t c, size_t h, size_t w,
                       int classes, uint64_t seed)
{
    gdn_model *m = NULL, *m2 = NULL;
    char path[512];
    gdn_rng rng;
    size_t c2, h2, w2, n;
    float *x = NULL, *l1 = NULL, *l2 = NULL;

    snprintf(path, sizeof path, "%s/rt-%llu.safetensors", gdn_test_tmpdir(),
             (unsigned long long)seed);
    CHECK_OK(gdn_model_new(&m, spec, c, h, w, classes));
    gdn_rng_init_seed(&rng, seed);
    gdn_model_init(m, &rng);
    CHECK_OK(gdn_model_save(m, path));
    CHECK_OK(gdn_model_load(&m2, path));
    CHECK(strcmp(gdn_model_spec(m2), spec) == 0);
    CHECK_EQ(gdn_model_classes(m2), classes);
    gdn_model_input_shape(m2, &c2, &h2, &w2);
    CHECK(c2 == c && h2 == h && w2 == w);
    n = gdn_model_nparams(m);
    CHECK_EQ(gdn_model_nparams(m2), n);
    CHECK(memcmp(gdn_model_params(m), gdn_model_params(m2), n * sizeof(float)) == 0);

    /* Same parameters, same logits, to the bit. */
    x = calloc(2 * c * h * w, sizeof *x);
    l1 = calloc(2 * (size_t)classes, sizeof *l1);
    l2 = calloc(2 * (size_t)classes, sizeof *l2);
    CHECK(x && l1 && l2);
    for (size_t i = 0; i < 2 * c * h * w; i++)
        x[i] = gdn_rng_float(&rng);
    CHECK_OK(gdn_model_forward(m, l1, x, 2));
    CHECK_OK(gdn_model_forward(m2, l2, x, 2));
    CHECK(memcmp(l1, l2, 2 * (size_t)classes * sizeof *l1) == 0);
    free(x);
    free(l1);
    free(l2);
    gdn_model_free(m);
    gdn_model_free(m2);
}

GDN_TEST(safetensors_round_trip_small)
{
    round_trip("mlp:4-3-2", 1, 1, 4, 2, 1);
    round_trip("logreg", 1, 1, 7, 3, 2);
    round_trip("seq:conv3-4p1,square,pool2,flatten,fc5", 2, 6, 6, 5, 3);
}

GDN_TEST(safetensors_round_trip_cnn)
{
    round_trip("cnn", 1, 28, 28, 10, 4);
    round_trip("lenet5", 1, 28, 28, 10, 5);
}

GDN_TEST(safetensors_header_layout)
{
    static const struct {
        const char *name;
        size_t ndim, shape[2];
    } want[] = {{"1.weight", 2, {3, 4}}, {"1.bias", 1, {3}},
                {"3.weight", 2, {2, 3}}, {"3.bias", 1, {2}}};
    gdn_model *m = NULL;
    gdn_json *j = NULL;
    gdn_buf b = {0};
    char path[512];
    uint64_t hlen, u, pos = 0;
    const gdn_json *meta, *e, *v;
    float *params;

    snprintf(path, sizeof path, "%s/layout.safetensors", gdn_test_tmpdir());
    CHECK_OK(gdn_model_new(&m, "mlp:4-3-2", 1, 1, 4, 2));
    params = gdn_model_params(m);
    for (size_t i = 0; i < gdn_model_nparams(m); i++)
        params[i] = (float)i - 0.5f;
    CHECK_OK(gdn_model_save(m, path));
    CHECK_OK(gdn_file_read(&b, path, 1 << 20));
    CHECK(b.len >= 8);
    hlen = gdn_load_le64(b.data);
    CHECK((8 + hlen) % 8 == 0);
    CHECK_EQ(b.len, 8 + hlen + 4 * 23);
    CHECK(b.data[8] == '{');
    CHECK_OK(gdn_json_parse(&j, (const char *)b.data + 8, hlen, "layout"));
    CHECK_EQ(gdn_json_len(j), 5);
    CHECK(strcmp(gdn_json_key(j, 0), "__metadata__") == 0);
    meta = gdn_json_get(j, "__metadata__");
    CHECK(strcmp(gdn_json_string(gdn_json_get(meta, "format"), NULL), "pt") == 0);
    CHECK(strcmp(gdn_json_string(gdn_json_get(meta, "guardian_spec"), NULL), "mlp:4-3-2") == 0);
    CHECK(strcmp(gdn_json_string(gdn_json_get(meta, "guardian_input"), NULL), "1x1x4") == 0);
    CHECK(strcmp(gdn_json_string(gdn_json_get(meta, "guardian_classes"), NULL), "2") == 0);
    for (size_t i = 0; i < 4; i++) {
        CHECK(strcmp(gdn_json_key(j, i + 1), want[i].name) == 0);
        e = gdn_json_at(j, i + 1);
        CHECK(strcmp(gdn_json_string(gdn_json_get(e, "dtype"), NULL), "F32") == 0);
        v = gdn_json_get(e, "shape");
        CHECK_EQ(gdn_json_len(v), want[i].ndim);
        size_t size = 1;
        for (size_t d = 0; d < want[i].ndim; d++) {
            CHECK_OK(gdn_json_uint(gdn_json_at(v, d), &u));
            CHECK_EQ(u, want[i].shape[d]);
            size *= want[i].shape[d];
        }
        v = gdn_json_get(e, "data_offsets");
        CHECK_EQ(gdn_json_len(v), 2);
        CHECK_OK(gdn_json_uint(gdn_json_at(v, 0), &u));
        CHECK_EQ(u, pos);
        CHECK_OK(gdn_json_uint(gdn_json_at(v, 1), &u));
        CHECK_EQ(u, pos + 4 * size);
        pos = u;
    }
    /* Float32 little-endian: params[1] = 0.5f = 0x3f000000. */
    const uint8_t *data = b.data + 8 + hlen;
    CHECK(data[4] == 0 && data[5] == 0 && data[6] == 0 && data[7] == 0x3f);
    CHECK_EQ(gdn_load_le32(data + 4 * 22), 0x41ac0000); /* 21.5f */
    gdn_json_free(j);
    gdn_buf_free(&b);
    gdn_model_free(m);
}

/* ---- Corrupt files -------------------------------------------------------- */

#define META                                                                  \
    "\"__metadata__\":{\"format\":\"pt\",\"guardian_spec\":\"mlp:4-3-2\","     \
    "\"guardian_input\":\"1x1x4\",\"guardian_classes\":\"2\"}"
#define T1W "\"1.weight\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]}"
#define T1B "\"1.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[48,60]}"
#define T3W "\"3.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[60,84]}"
#define T3B "\"3.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[84,92]}"
#define TENSORS T1W "," T1B "," T3W "," T3B

/* A file of le64(len(header)), header, and data_len bytes; loads it. */
static int load_made(gdn_buf *file, const char *header, size_t data_len)
{
    gdn_model *m = NULL;
    size_t h = strlen(header);
    uint8_t le[8];
    int rc;

    file->len = 0;
    gdn_store_le64(le, h);
    if (gdn_buf_append(file, le, 8) || gdn_buf_append(file, header, h) ||
        gdn_buf_reserve(file, data_len))
        return GDN_ENOMEM;
    /* Float k of the data is 0x3f??0000 with ?? = k: distinct values. */
    for (size_t i = 0; i < data_len; i++)
        file->data[file->len++] =
            (uint8_t)(i % 4 == 3 ? 0x3f : i % 4 == 2 ? i / 4 : 0);
    rc = gdn_model_load_bytes(&m, file->data, file->len, "t.safetensors");
    gdn_model_free(m);
    return rc;
}

static int rejected(const char *header, size_t data_len, const char *want)
{
    gdn_buf file = {0};
    int rc = load_made(&file, header, data_len);

    gdn_buf_free(&file);
    if (rc != GDN_EFORMAT || strncmp(gdn_errmsg(), "t.safetensors: ", 15) != 0 ||
        !strstr(gdn_errmsg(), want)) {
        fprintf(stderr, "    rc %d, detail \"%s\", want \"%s\"\n", rc,
                gdn_errmsg(), want);
        return 0;
    }
    return 1;
}

GDN_TEST(safetensors_hand_made_files)
{
    gdn_buf file = {0};
    gdn_model *m = NULL;

    /* Valid, in any entry order, with offsets in any order. */
    CHECK_OK(load_made(&file, "{" META "," TENSORS "}", 92));
    CHECK_OK(load_made(&file, "{" T3B "," T1B ",  " META "," T3W "," T1W "}  ", 92));
    CHECK_OK(load_made(&file,
                       "{" META ","
                       "\"3.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"1.weight\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[8,56]},"
                       "\"3.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[56,80]},"
                       "\"1.bias\":{\"data_offsets\":[80,92],\"shape\":[3],\"dtype\":\"F32\"}}",
                       92));
    CHECK_OK(gdn_model_load_bytes(&m, file.data, file.len, "x"));
    CHECK(gdn_load_le32(file.data + file.len - 92 + 8) == 0x3f020000);
    /* 1.weight[0] is data float 2; 3.bias[0] is float 0; 1.bias[2] is 22. */
    uint32_t u;
    memcpy(&u, &gdn_model_params(m)[0], 4);
    CHECK_EQ(u, 0x3f020000);
    memcpy(&u, &gdn_model_params(m)[21], 4);
    CHECK_EQ(u, 0x3f000000);
    memcpy(&u, &gdn_model_params(m)[14], 4);
    CHECK_EQ(u, 0x3f160000);
    gdn_model_free(m);
    gdn_buf_free(&file);
}

GDN_TEST(safetensors_rejects_corrupt)
{
    gdn_buf file = {0};
    gdn_model *m = NULL;
    uint8_t le[8];

    /* Truncated: too short, header past the end, data cut short. */
    CHECK_OK(load_made(&file, "{" META "," TENSORS "}", 92));
    CHECK_EQ(gdn_model_load_bytes(&m, file.data, 5, "t.safetensors"), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "t.safetensors: 5 bytes, too short"));
    CHECK_EQ(gdn_model_load_bytes(&m, file.data, 100, "t.safetensors"), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "runs past the end of the 100-byte file"));
    CHECK_EQ(gdn_model_load_bytes(&m, file.data, file.len - 1, "t.safetensors"),
             GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "has 23 parameters (92 bytes), the file's data "
                               "buffer has 91 bytes"));
    gdn_store_le64(le, (uint64_t)1 << 40);
    memcpy(file.data, le, 8);
    CHECK_EQ(gdn_model_load_bytes(&m, file.data, file.len, "t.safetensors"), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "above the limit"));
    CHECK(m == NULL);
    gdn_buf_free(&file);

    /* Header syntax and shape. */
    CHECK(rejected("{" META "," TENSORS ",}", 92, "t.safetensors: header: offset"));
    CHECK(rejected("{" META "," TENSORS "}x", 92, "expected end of input"));
    CHECK(rejected("[]", 92, "the header is not a JSON object"));
    CHECK(rejected("", 92, "header: offset 0: expected a value"));

    /* Metadata. */
    CHECK(rejected("{" TENSORS "}", 92, "not a Guardian model file"));
    CHECK(rejected("{\"__metadata__\":{\"format\":\"pt\"}," TENSORS "}", 92,
                   "not a Guardian model file (its __metadata__ has no "
                   "\"guardian_spec\""));
    CHECK(rejected("{\"__metadata__\":[]," TENSORS "}", 92, "__metadata__ is not an object"));
    CHECK(rejected("{\"__metadata__\":{\"guardian_spec\":\"mlp:4-3-2\","
                   "\"guardian_input\":\"1x1x4\",\"guardian_classes\":2}," TENSORS "}",
                   92, "__metadata__ \"guardian_classes\" is not a string"));
    CHECK(rejected("{\"__metadata__\":{\"guardian_spec\":\"mlp:4-3-2\","
                   "\"guardian_input\":\"1x4\",\"guardian_classes\":\"2\"}," TENSORS "}",
                   92, "guardian_input \"1x4\" is not CxHxW"));
    CHECK(rejected("{\"__metadata__\":{\"guardian_spec\":\"mlp:4-3-2\","
                   "\"guardian_input\":\"1x1x4\",\"guardian_classes\":\"99999999999\"},"
                   TENSORS "}", 92, "guardian_classes \"99999999999\""));
    CHECK(rejected("{\"__metadata__\":{\"guardian_spec\":\"mlp:4-3-3\","
                   "\"guardian_input\":\"1x1x4\",\"guardian_classes\":\"2\"}," TENSORS "}",
                   92, "t.safetensors: __metadata__: model spec 'mlp:4-3-3'"));
    CHECK(rejected("{\"__metadata__\":{\"guardian_spec\":\"mlp\\u00004-3-2\","
                   "\"guardian_input\":\"1x1x4\",\"guardian_classes\":\"2\"}," TENSORS "}",
                   92, "contains a NUL"));

    /* Tensor entries. */
    CHECK(rejected("{" META "," T1W "," T1B "," T3W "}", 92,
                   "tensor '3.bias' is missing"));
    CHECK(rejected("{" META "," T1W "," T1B "," T3W "}", 84,
                   "has 23 parameters (92 bytes), the file's data buffer has 84"));
    CHECK(rejected("{" META "," TENSORS ",\"5.weight\":{\"dtype\":\"F32\",\"shape\":[1],"
                   "\"data_offsets\":[92,96]}}", 92, "unexpected tensor '5.weight'"));
    CHECK(rejected("{" META "," T1W "," T1B "," T3W ","
                   "\"3.bias\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[84,88]}}",
                   92, "tensor '3.bias': dtype F16, expected F32"));
    CHECK(rejected("{" META "," T1W "," T1B "," T3W ","
                   "\"3.bias\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[84,92]}}",
                   92, "tensor '3.bias': dtype (not a string)"));
    CHECK(rejected("{" META ",\"1.weight\":{\"dtype\":\"F32\",\"shape\":[4,3],"
                   "\"data_offsets\":[0,48]}," T1B "," T3W "," T3B "}", 92,
                   "t.safetensors: tensor '1.weight': shape [4,3] expected [3,4]"));
    CHECK(rejected("{" META ",\"1.weight\":{\"dtype\":\"F32\",\"shape\":[12],"
                   "\"data_offsets\":[0,48]}," T1B "," T3W "," T3B "}", 92,
                   "shape [12] expected [3,4]"));
    CHECK(rejected("{" META ",\"1.weight\":{\"dtype\":\"F32\",\"shape\":[3,-4],"
                   "\"data_offsets\":[0,48]}," T1B "," T3W "," T3B "}", 92,
                   "shape is not an array of non-negative integers"));
    CHECK(rejected("{" META ",\"1.weight\":{\"dtype\":\"F32\",\"shape\":[3,4],"
                   "\"data_offsets\":[0,48],\"x\":1}," T1B "," T3W "," T3B "}", 92,
                   "exactly dtype, shape and data_offsets"));
    CHECK(rejected("{" META ",\"1.weight\":{\"dtype\":\"F32\",\"shape\":[3,4],"
                   "\"data_offsets\":[0]}," T1B "," T3W "," T3B "}", 92,
                   "data_offsets is not [begin, end]"));
    CHECK(rejected("{" META ",\"1.weight\":{\"dtype\":\"F32\",\"shape\":[3,4],"
                   "\"data_offsets\":[0,44]}," T1B "," T3W "," T3B "}", 92,
                   "hold 44 bytes, expected 48"));
    CHECK(rejected("{" META ",\"1.weight\":{\"dtype\":\"F32\",\"shape\":[3,4],"
                   "\"data_offsets\":[48,0]}," T1B "," T3W "," T3B "}", 92,
                   "data_offsets [48, 0] do not fit"));
    CHECK(rejected("{" META ",\"1.weight\":{\"dtype\":\"F32\",\"shape\":[3,4],"
                   "\"data_offsets\":[100,148]}," T1B "," T3W "," T3B "}", 92,
                   "data_offsets [100, 148] do not fit the 92-byte data buffer"));
    CHECK(rejected("{" META ",\"1.weight\":{\"dtype\":\"F32\",\"shape\":[3,4],"
                   "\"data_offsets\":[18446744073709551615,48]}," T1B "," T3W "," T3B "}",
                   92, "data_offsets is not [begin, end]"));

    /* Coverage: overlap, a gap, trailing bytes. */
    CHECK(rejected("{" META "," T1W ","
                   "\"1.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[44,56]},"
                   "\"3.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[56,80]},"
                   "\"3.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[80,88]}}",
                   92, "tensors '1.weight' and '1.bias' overlap"));
    CHECK(rejected("{" META ",\"1.weight\":{\"dtype\":\"F32\",\"shape\":[3,4],"
                   "\"data_offsets\":[40,88]}," T1B "," T3W "," T3B "}", 92,
                   "bytes [0, 40) of the data buffer belong to no tensor"));
    CHECK(rejected("{" META "," T1W "," T1B "," T3W ","
                   "\"3.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[88,96]}}",
                   96, "the file's data buffer has 96 bytes"));
    CHECK(rejected("{" META "," TENSORS "}", 100,
                   "the file's data buffer has 100 bytes"));
}

GDN_TEST(safetensors_file_errors)
{
    gdn_model *m = NULL;
    char path[512];

    CHECK_EQ(gdn_model_load(&m, "/nonexistent/m.safetensors"), GDN_EIO);
    CHECK(strstr(gdn_errmsg(), "/nonexistent/m.safetensors"));
    CHECK(m == NULL);
    CHECK_OK(gdn_model_new(&m, "logreg", 1, 1, 3, 2));
    CHECK_EQ(gdn_model_save(m, "/nonexistent/dir/m.safetensors"), GDN_EIO);
    snprintf(path, sizeof path, "%s/empty.safetensors", gdn_test_tmpdir());
    CHECK_OK(gdn_file_write_atomic(path, "", 0));
    gdn_model_free(m);
    CHECK_EQ(gdn_model_load(&m, path), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "empty.safetensors: 0 bytes, too short"));
}
