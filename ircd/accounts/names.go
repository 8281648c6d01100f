package accounts

// Names returns the name of every account, as registered, in no order.
func (r *Registry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.byName))
	for _, e := range r.byName {
		out = append(out, e.acct.Name)
	}
	return out
}
