package blob

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/atriumhq/atrium/core/kernel"
)

const (
	// metaSHA256 is the user-metadata key (x-amz-meta-sha256) holding the
	// hex sha256, since S3's own checksums of multipart objects are not a
	// hash of the content.
	metaSHA256 = "sha256"
	// maxPutSize is S3's limit for a single PutObject.
	maxPutSize = 5 << 30
	// maxPresignTTL is SigV4's limit for a presigned URL.
	maxPresignTTL = 7 * 24 * time.Hour
)

type s3Store struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
}

func openS3(ctx context.Context, u *url.URL, timeout time.Duration) (Store, error) {
	if u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, errors.New("blob: s3 URLs name a bucket and nothing else: s3://bucket?region=eu-west-1")
	}
	q := u.Query()
	for k := range q {
		if k != "region" && k != "endpoint" {
			return nil, fmt.Errorf("blob: s3 URL parameter %q unknown, want region or endpoint", k)
		}
	}
	var opts []func(*config.LoadOptions) error
	if timeout > 0 {
		opts = append(opts, config.WithHTTPClient(awshttp.NewBuildableClient().
			WithDialerOptions(func(d *net.Dialer) { d.Timeout = timeout }).
			WithTransportOptions(func(tr *http.Transport) { tr.ResponseHeaderTimeout = timeout })))
	}
	if r := q.Get("region"); r != "" {
		opts = append(opts, config.WithRegion(r))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("blob: load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("blob: no S3 region: add ?region= to the URL or set AWS_REGION")
	}
	endpoint := q.Get("endpoint")
	if endpoint != "" {
		if e, err := url.Parse(endpoint); err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return nil, errors.New("blob: s3 endpoint must be an http or https URL")
		}
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			// MinIO and fakes serve every bucket under one host.
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
		}
	})
	return &s3Store{client: client, presign: s3.NewPresignClient(client), bucket: u.Host}, nil
}

// Put spools r to a temporary file first: the sha256 must be known before
// the upload starts to travel as metadata, and a seekable body lets the SDK
// sign the payload and retry. A failing r thus never reaches S3 at all.
func (s *s3Store) Put(ctx context.Context, key string, r io.Reader, contentType string) (Info, error) {
	ct, err := checkContentType(contentType)
	if err != nil {
		return Info{}, err
	}
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	tmp, err := os.CreateTemp("", "atrium-blob-*")
	if err != nil {
		return Info{}, fmt.Errorf("blob: put: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	n, sum, err := spool(ctx, tmp, r)
	if err != nil {
		return Info{}, err
	}
	if n > maxPutSize {
		return Info{}, kernel.E(kernel.KindTooLarge, "blob larger than %d bytes", int64(maxPutSize))
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return Info{}, fmt.Errorf("blob: put: %w", err)
	}
	raw, _ := hex.DecodeString(sum)
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &key,
		Body:          tmp,
		ContentLength: &n,
		ContentType:   &ct,
		Metadata:      map[string]string{metaSHA256: sum},
		// S3 verifies the content against the hash we computed.
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(raw)),
	})
	if err != nil {
		return Info{}, s3Error("put", key, err)
	}
	// PutObject reports no modification time; a HEAD for it costs a round trip.
	return Info{Key: key, Size: n, SHA256: sum, ContentType: ct, ModTime: time.Now()}, nil
}

func (s *s3Store) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if err := ValidateKey(key); err != nil {
		return nil, Info{}, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, Info{}, s3Error("get", key, err)
	}
	return out.Body, info(key, out.ContentLength, out.ContentType, out.LastModified, out.Metadata), nil
}

// GetRange asks S3 for the range only; the object's size comes from the
// answer's Content-Range. An empty range at the end costs a HEAD instead,
// since S3 refuses a range that starts past the last byte.
func (s *s3Store) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, Info, error) {
	if offset == 0 && length < 0 {
		return s.Get(ctx, key)
	}
	if err := ValidateKey(key); err != nil {
		return nil, Info{}, err
	}
	if length == 0 {
		return s.emptyRange(ctx, key, offset)
	}
	rng := fmt.Sprintf("bytes=%d-", offset)
	if length > 0 {
		rng = fmt.Sprintf("bytes=%d-%d", offset, offset+length-1)
	}
	// The object's checksum is the whole object's: a range cannot be
	// checked against it (S3 sends none with a range; some servers do).
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key, Range: &rng}, func(o *s3.Options) {
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	if err != nil {
		var respErr *awshttp.ResponseError
		if errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusRequestedRangeNotSatisfiable {
			if length < 0 { // from the end of the object on: empty, or past it
				return s.emptyRange(ctx, key, offset)
			}
			return nil, Info{}, kernel.Wrap(kernel.KindBadRequest, err, "range %s is outside the object", rng)
		}
		return nil, Info{}, s3Error("get", key, err)
	}
	info := info(key, out.ContentLength, out.ContentType, out.LastModified, out.Metadata)
	total, ok := totalSize(aws.ToString(out.ContentRange))
	if !ok {
		out.Body.Close()
		return nil, Info{}, fmt.Errorf("blob: get %q: S3 answered a range with Content-Range %q", key, aws.ToString(out.ContentRange))
	}
	info.Size = total
	if _, err := span(total, offset, length); err != nil {
		out.Body.Close()
		return nil, Info{}, err
	}
	return out.Body, info, nil
}

// emptyRange is an empty read at offset, which must be the object's end.
func (s *s3Store) emptyRange(ctx context.Context, key string, offset int64) (io.ReadCloser, Info, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, Info{}, err
	}
	if _, err := span(info.Size, offset, 0); err != nil {
		return nil, Info{}, err
	}
	return io.NopCloser(strings.NewReader("")), info, nil
}

// totalSize reads the size from a Content-Range: "bytes 0-9/1234".
func totalSize(cr string) (int64, bool) {
	i := strings.LastIndexByte(cr, '/')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(cr[i+1:], 10, 64)
	return n, err == nil && n >= 0
}

func (s *s3Store) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return Info{}, s3Error("stat", key, err)
	}
	return info(key, out.ContentLength, out.ContentType, out.LastModified, out.Metadata), nil
}

func info(key string, size *int64, ct *string, mod *time.Time, meta map[string]string) Info {
	return Info{
		Key:         key,
		Size:        aws.ToInt64(size),
		SHA256:      meta[metaSHA256], // the SDK lower-cases metadata keys
		ContentType: aws.ToString(ct),
		ModTime:     aws.ToTime(mod),
	}
}

func (s *s3Store) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		if err = s3Error("delete", key, err); !errors.Is(err, kernel.ErrNotFound) {
			return err
		}
	}
	return nil
}

func (s *s3Store) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := validatePrefix(prefix); err != nil {
		return nil, err
	}
	var infos []Info
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, s3Error("list", prefix, err)
		}
		for _, o := range page.Contents {
			infos = append(infos, Info{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
	}
	sortByKey(infos)
	return infos, nil
}

func (s *s3Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, bool, error) {
	if err := ValidateKey(key); err != nil {
		return "", false, err
	}
	if ttl <= 0 || ttl > maxPresignTTL {
		return "", false, kernel.E(kernel.KindBadRequest, "presign lifetime must be positive and at most %s", maxPresignTTL)
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", false, fmt.Errorf("blob: presign %q: %w", key, err)
	}
	return req.URL, true, nil
}

// s3Error turns S3's not-found answers (NoSuchKey from GET, a bare 404 from
// HEAD) into kernel not-found errors, and S3 out of reach (no answer in
// time, the connection refused or lost) or failing (a 5xx, SlowDown among
// them) into the kernel's unavailable error: a 503 the client may retry.
func s3Error(op, key string, err error) error {
	var noKey *types.NoSuchKey
	var notFoundErr *types.NotFound
	if errors.As(err, &noKey) || errors.As(err, &notFoundErr) {
		return notFound(err)
	}
	var sendErr *smithyhttp.RequestSendError
	var respErr *awshttp.ResponseError
	if errors.As(err, &sendErr) || errors.As(err, &respErr) && respErr.HTTPStatusCode() >= 500 {
		return kernel.Wrap(kernel.KindUnavailable, err, "object storage is unavailable (%s %q)", op, key)
	}
	return fmt.Errorf("blob: %s %q: %w", op, key, err)
}
