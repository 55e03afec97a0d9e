package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Object-created notifications, as the stores send them to a queue.

// s3Event is an S3 event notification (AWS, and MinIO's bucket notifications).
type s3Event struct {
	Records []struct {
		EventName string `json:"eventName"`
		S3        struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key string `json:"key"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
}

// eventGridEvent is an Azure Event Grid event (Event Grid or CloudEvents schema).
type eventGridEvent struct {
	EventType string `json:"eventType"`
	Type      string `json:"type"` // CloudEvents
	Data      struct {
		URL string `json:"url"`
	} `json:"data"`
}

// errNotNotification: a message that is none of the notifications understood.
var errNotNotification = errors.New("daemon: message is not an object notification")

// parseNotification returns the source URIs of the objects a message says were created, with
// query (connection parameters, may be empty) appended to object URLs: S3 event records (AWS,
// MinIO: eventName ObjectCreated:* or s3:ObjectCreated:*), GCS Pub/Sub notifications
// (attributes eventType OBJECT_FINALIZE, bucketId, objectId), Azure Event Grid BlobCreated
// events (one, or an array), or a bare URL or path per line. Other events of these kinds
// (removals, test events) give no URI and no error.
func parseNotification(body []byte, attrs map[string]string, query string) ([]string, error) {
	withQuery := func(u string) string {
		if query == "" {
			return u
		}
		return u + "?" + query
	}
	if t, ok := attrs["eventType"]; ok && attrs["bucketId"] != "" {
		if t != "OBJECT_FINALIZE" || attrs["objectId"] == "" {
			return nil, nil
		}
		return []string{withQuery("gs://" + attrs["bucketId"] + "/" + escapeKey(attrs["objectId"]))}, nil
	}
	text := strings.TrimSpace(string(body))
	switch {
	case text == "":
		return nil, errNotNotification
	case strings.HasPrefix(text, "{") && strings.Contains(text, `"Records"`):
		var ev s3Event
		if err := json.Unmarshal([]byte(text), &ev); err != nil {
			return nil, fmt.Errorf("%w: S3 event: %v", errNotNotification, err)
		}
		var out []string
		for _, r := range ev.Records {
			name := strings.TrimPrefix(r.EventName, "s3:")
			if !strings.HasPrefix(name, "ObjectCreated:") {
				continue
			}
			key, err := url.QueryUnescape(r.S3.Object.Key) // keys are form-encoded in S3 events
			if err != nil || r.S3.Bucket.Name == "" || key == "" {
				return nil, fmt.Errorf("%w: S3 event record with bucket %q key %q", errNotNotification, r.S3.Bucket.Name, r.S3.Object.Key)
			}
			out = append(out, withQuery("s3://"+r.S3.Bucket.Name+"/"+escapeKey(key)))
		}
		return out, nil
	case strings.HasPrefix(text, "{") || strings.HasPrefix(text, "["):
		var evs []eventGridEvent
		if strings.HasPrefix(text, "{") {
			var ev eventGridEvent
			if err := json.Unmarshal([]byte(text), &ev); err != nil {
				return nil, fmt.Errorf("%w: %v", errNotNotification, err)
			}
			evs = append(evs, ev)
		} else if err := json.Unmarshal([]byte(text), &evs); err != nil {
			return nil, fmt.Errorf("%w: %v", errNotNotification, err)
		}
		var out []string
		for _, ev := range evs {
			t := ev.EventType
			if t == "" {
				t = ev.Type
			}
			if t == "" {
				return nil, errNotNotification
			}
			if t != "Microsoft.Storage.BlobCreated" {
				continue
			}
			u, err := blobURL(ev.Data.URL)
			if err != nil {
				return nil, err
			}
			out = append(out, withQuery(u))
		}
		return out, nil
	}
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out, nil
}

// blobURL turns the URL of an Azure blob (https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB,
// or path style http://HOST/ACCOUNT/CONTAINER/BLOB as Azurite has it) into
// azblob://ACCOUNT@CONTAINER/BLOB.
func blobURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%w: blob URL %q", errNotNotification, raw)
	}
	path := strings.TrimPrefix(u.EscapedPath(), "/")
	account, ok := strings.CutSuffix(u.Hostname(), ".blob.core.windows.net")
	if !ok {
		account, path, _ = strings.Cut(path, "/")
	}
	container, blob, _ := strings.Cut(path, "/")
	if account == "" || container == "" || blob == "" {
		return "", fmt.Errorf("%w: blob URL %q names no account, container and blob", errNotNotification, raw)
	}
	return "azblob://" + account + "@" + container + "/" + blob, nil
}

// escapeKey escapes a key for the path of a URL (each element; / kept).
func escapeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
