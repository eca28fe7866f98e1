package adminapi

import (
	"errors"
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/admin"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// groupView is a group; Members (user ids) only when one group is shown.
type groupView struct {
	Name      string   `json:"name"`
	CreatedAt string   `json:"created_at,omitempty"`
	Members   []string `json:"members,omitempty"`
}

func (a *API) listGroups(w http.ResponseWriter, r *http.Request) {
	var bad []fieldProblem
	pq := readPage(r.URL.Query(), &bad)
	if bad != nil {
		a.problem(w, r, http.StatusBadRequest, typeInvalidQuery, "The query has problems; each is listed.", bad...)
		return
	}
	list, err := a.cfg.Store.ListGroups(r.Context())
	if err != nil {
		a.storeError(w, r, "list groups", err)
		return
	}
	views := make([]groupView, len(list))
	for i, g := range list {
		views[i] = groupView{Name: g.Name, CreatedAt: stamp(g.CreatedAt)}
	}
	writePage(w, paginate(r, views, func(g groupView) string { return g.Name }, pq))
}

func (a *API) getGroup(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	ctx := r.Context()
	list, err := a.cfg.Store.ListGroups(ctx)
	if err != nil {
		a.storeError(w, r, "list groups", err)
		return
	}
	i := slices.IndexFunc(list, func(g storage.Group) bool { return g.Name == name })
	if i < 0 {
		a.problem(w, r, http.StatusNotFound, typeNotFound, "There is no such group.")
		return
	}
	members, err := a.cfg.Store.GroupMembers(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		a.problem(w, r, http.StatusNotFound, typeNotFound, "There is no such group.")
		return
	} else if err != nil {
		a.storeError(w, r, "group members", err)
		return
	}
	writeJSON(w, http.StatusOK, groupView{Name: name, CreatedAt: stamp(list[i].CreatedAt), Members: orEmpty(members)})
}

func (a *API) createGroup(w http.ResponseWriter, r *http.Request) {
	members, bad, ok := a.readObject(w, r, "name")
	if !ok {
		return
	}
	var name string
	if !member(members, "name", "a string", &name, &bad) {
		if _, given := members["name"]; !given {
			bad = append(bad, fieldProblem{Pointer: "/name", Detail: "required"})
		}
	} else if !storage.ValidGroupName(name) {
		bad = append(bad, fieldProblem{Pointer: "/name", Detail: admin.GroupNameProblem(name)})
	}
	if bad != nil {
		a.problem(w, r, http.StatusUnprocessableEntity, typeInvalidBody, "The request body has problems; each is listed.", bad...)
		return
	}
	g, err := a.cfg.Actions.CreateGroup(r.Context(), principal(r).Actor, name)
	if g == nil {
		a.actionError(w, r, "group", err)
		return
	}
	if err != nil {
		a.storeError(w, r, "create group", err)
		return
	}
	w.Header().Set("Location", Prefix+"/groups/"+g.Name)
	writeJSON(w, http.StatusCreated, groupView{Name: g.Name, CreatedAt: stamp(g.CreatedAt), Members: []string{}})
}

func (a *API) deleteGroup(w http.ResponseWriter, r *http.Request) {
	if err := a.cfg.Actions.DeleteGroup(r.Context(), principal(r).Actor, chi.URLParam(r, "name")); err != nil {
		a.actionError(w, r, "group", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// addMember makes the user a member (PUT: idempotent; 201 when added, 200
// when a member already).
func (a *API) addMember(w http.ResponseWriter, r *http.Request) {
	ctx, user := r.Context(), chi.URLParam(r, "user")
	if _, err := a.cfg.Store.UserByID(ctx, user); err != nil {
		a.actionError(w, r, "user", err)
		return
	}
	added, err := a.cfg.Actions.AddGroupMember(ctx, principal(r).Actor, chi.URLParam(r, "name"), user)
	if err != nil {
		a.actionError(w, r, "group", err)
		return
	}
	status := http.StatusOK
	if added {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]string{"group": chi.URLParam(r, "name"), "user_id": user})
}

func (a *API) removeMember(w http.ResponseWriter, r *http.Request) {
	removed, err := a.cfg.Actions.RemoveGroupMember(r.Context(), principal(r).Actor, chi.URLParam(r, "name"), chi.URLParam(r, "user"))
	switch {
	case err != nil:
		a.actionError(w, r, "group", err)
	case !removed:
		a.problem(w, r, http.StatusNotFound, typeNotFound, "The user is not a member of the group.")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
