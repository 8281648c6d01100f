package history

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"securechat/crypto"
	"securechat/metrics"
)

type testBlob struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

// TestBlobsSurviveAndStayApart saves blobs of two kinds, reopens the store
// with a fresh History and finds the latest value of each, and none of the
// names in the stored bytes.
func TestBlobsSurviveAndStayApart(t *testing.T) {
	t.Parallel()
	st := newMemory()
	h, _ := newTestHistory(t, newTestVault(t), st)
	acct, push := h.BlobKey("account", "zebra"), h.BlobKey("push", "zebra")
	if acct == push {
		t.Fatal("one name has the same key in two kinds")
	}
	h.Save("account", acct, testBlob{Name: "zebra", N: 1})
	h.Save("account", acct, testBlob{Name: "zebra", N: 2})
	h.Save("push", push, testBlob{Name: "zebra", N: 7})
	h.Save("account", h.BlobKey("account", "gone"), testBlob{Name: "gone"})
	h.Save("account", h.BlobKey("account", "gone"), nil)
	closeHistory(t, h)

	raw, err := st.Blobs(t.Context(), "account")
	if err != nil || len(raw) != 1 {
		t.Fatalf("stored account blobs = %d, %v; want 1", len(raw), err)
	}
	for key, data := range raw {
		if bytes.Contains(data, []byte("zebra")) || bytes.Contains([]byte(key), []byte("zebra")) {
			t.Fatal("a stored blob shows its name in clear")
		}
	}
	fresh, _ := newTestHistory(t, h.vault, st)
	for kind, want := range map[string]testBlob{"account": {"zebra", 2}, "push": {"zebra", 7}} {
		got, err := fresh.Load(testContext(t, 5*time.Second), kind)
		if err != nil {
			t.Fatal(err)
		}
		var b testBlob
		if err := json.Unmarshal(got[fresh.BlobKey(kind, "zebra")], &b); err != nil || b != want || len(got) != 1 {
			t.Fatalf("Load(%q) = %s, %v; want only %+v", kind, got, err, want)
		}
	}
}

// TestBlobsDoNotPassForAnother moves a sealed blob to another key and to
// another kind: neither opens.
func TestBlobsDoNotPassForAnother(t *testing.T) {
	t.Parallel()
	st := newMemory()
	h, m := newTestHistory(t, newTestVault(t), st)
	ctx := testContext(t, 5*time.Second)
	key := h.BlobKey("account", "zebra")
	if err := h.storeSealed(ctx, slot{"account", key}, []byte(`{"name":"zebra"}`)); err != nil {
		t.Fatal(err)
	}
	raw, _ := st.Blobs(ctx, "account")
	for _, s := range []slot{{"account", h.BlobKey("account", "other")}, {"push", key}} {
		if err := st.SaveBlob(ctx, s.kind, s.key, raw[key]); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SaveChannelState(ctx, key, raw[key]); err != nil {
		t.Fatal(err)
	}
	accounts, _ := h.Load(ctx, "account")
	pushes, _ := h.Load(ctx, "push")
	channels, _ := h.Channels(ctx)
	if len(accounts) != 1 || accounts[key] == nil || len(pushes) != 0 || len(channels) != 0 {
		t.Fatalf("moved blobs opened: accounts %d, pushes %d, channels %d", len(accounts), len(pushes), len(channels))
	}
	if n := errorCount(t, m, metrics.OpOpen); n != 3 {
		t.Fatalf("HistoryErrors{open} = %v, want 3", n)
	}
}

// TestBlobsResealedWhenTheirKeyExpires saves a blob, lets its data key
// expire, and finds it still opens: Maintain reseals blobs under the
// newest key before destroying the old one, as it does channel state.
func TestBlobsResealedWhenTheirKeyExpires(t *testing.T) {
	t.Parallel()
	// Keys expire by the wall clock only, so epochs are short here.
	const epoch = 100 * time.Millisecond
	st := newMemory()
	v, err := crypto.NewKeyring([]byte(testPassword), cheapKDF, time.Now(), epoch)
	if err != nil {
		t.Fatal(err)
	}
	saveTestKeyring(t, st, v)
	h, _ := newTestHistory(t, v, st)
	ctx := testContext(t, 5*time.Second)
	key := h.BlobKey("account", "zebra")
	h.Save("account", key, testBlob{Name: "zebra", N: 1})
	if err := h.states.waitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := st.Blobs(ctx, "account")
	time.Sleep(4 * epoch)
	if err := h.Maintain(ctx, time.Now(), epoch); err != nil {
		t.Fatal(err)
	}
	closeHistory(t, h)
	if _, err := v.Open(key, "blob:account", time.Unix(0, 0), before[key]); err == nil {
		t.Fatal("the old key still opens the blob: nothing expired, the test proves nothing")
	}
	fresh, _ := newTestHistory(t, v, st)
	got, err := fresh.Load(ctx, "account")
	if err != nil || got[key] == nil {
		t.Fatalf("after key expiry Load = %v, %v; want the blob", got, err)
	}
}
