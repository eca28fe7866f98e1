package console

import (
	"context"
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/admin"
	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// groupStore is what the groups' pages read.
type groupStore interface {
	ListGroups(ctx context.Context) ([]storage.Group, error)
	GroupMembers(ctx context.Context, group string) ([]string, error)
}

type groupsData struct {
	frame
	Groups  []storage.Group
	Problem string
	Name    string
}

func (c *Console) groupsPage(v *visit) { c.renderGroups(v, http.StatusOK, groupsData{}) }

func (c *Console) renderGroups(v *visit, status int, data groupsData) {
	data.frame = c.frame(v, "Groups", "groups")
	if status == http.StatusOK {
		data.Notice = notice(v.r)
	}
	groups, err := c.store.ListGroups(v.r.Context())
	if err != nil {
		c.serverError(v.w, v.r, "list groups", err)
		return
	}
	data.Groups = groups
	c.render(v.w, v.r, status, "groups", data)
}

func (c *Console) createGroup(v *visit) {
	name := v.r.PostForm.Get("name")
	_, err := c.actions.CreateGroup(v.r.Context(), v.actor(), name)
	var bad admin.Invalid
	switch {
	case errors.As(err, &bad):
		c.renderGroups(v, http.StatusBadRequest, groupsData{Problem: admin.GroupNameProblem(truncate(name, storage.MaxGroupNameLen*4)), Name: truncate(name, maxQuery)})
		return
	case errors.Is(err, storage.ErrConflict):
		c.renderGroups(v, http.StatusConflict, groupsData{Problem: "There is a group of that name already.", Name: name})
		return
	case err != nil:
		c.actionFailed(v, "create group", "/admin/groups/"+name, err)
		return
	}
	done(v, "/admin/groups/"+name, "group-created")
}

type groupData struct {
	frame
	Name    string
	Members []memberRow
}

type memberRow struct {
	ID, Username, Name string
	Disabled, Gone     bool
}

// groupName reads the group the URL names; ok=false when it is not a
// group name (404 answered).
func (c *Console) groupName(v *visit) (string, bool) {
	name := chi.URLParam(v.r, "name")
	if !storage.ValidGroupName(name) {
		c.notFound(v, "There is no such group.")
		return "", false
	}
	return name, true
}

func (c *Console) groupPage(v *visit) {
	name, ok := c.groupName(v)
	if !ok {
		return
	}
	ids, err := c.store.GroupMembers(v.r.Context(), name)
	if errors.Is(err, storage.ErrNotFound) {
		c.notFound(v, "There is no such group.")
		return
	}
	if err != nil {
		c.serverError(v.w, v.r, "group members", err)
		return
	}
	data := groupData{frame: c.frame(v, "Group "+name, "groups"), Name: name}
	data.Notice = notice(v.r)
	for _, id := range ids {
		row := memberRow{ID: id}
		u, err := c.store.UserByID(v.r.Context(), id)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			row.Gone = true
		case err != nil:
			c.serverError(v.w, v.r, "group member", err)
			return
		default:
			row.Username, row.Name, row.Disabled = u.Username, u.Name, u.Disabled
		}
		data.Members = append(data.Members, row)
	}
	c.render(v.w, v.r, http.StatusOK, "group", data)
}

func (c *Console) deleteGroup(v *visit) {
	name, ok := c.groupName(v)
	if !ok {
		return
	}
	if v.r.PostForm.Get("confirm") != name {
		c.ui.RenderError(v.r.Context(), v.w, http.StatusBadRequest, "Not deleted",
			"To delete the group, type its name in the box next to the button.", "")
		return
	}
	err := c.actions.DeleteGroup(v.r.Context(), v.actor(), name)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		c.notFound(v, "There is no such group.")
		return
	case err != nil:
		c.actionFailed(v, "delete group", "/admin/groups", err)
		return
	}
	done(v, "/admin/groups", "group-deleted")
}

// addMember adds the user named by username to the group.
func (c *Console) addMember(v *visit) {
	name, ok := c.groupName(v)
	if !ok {
		return
	}
	back := "/admin/groups/" + name
	u, err := c.store.UserByUsername(v.r.Context(), loginui.CanonicalUsername(v.r.PostForm.Get("username")))
	if errors.Is(err, storage.ErrNotFound) {
		c.notFound(v, "There is no user with that username.")
		return
	}
	if err != nil {
		c.serverError(v.w, v.r, "read user", err)
		return
	}
	c.changeMembership(v, name, u, true, back)
}

// removeMember removes the user with the posted id from the group.
func (c *Console) removeMember(v *visit) {
	name, ok := c.groupName(v)
	if !ok {
		return
	}
	id := v.r.PostForm.Get("user")
	if id == "" || len(id) > maxQuery {
		c.ui.RenderError(v.r.Context(), v.w, http.StatusBadRequest, "Bad request", "The form does not name a user.", "")
		return
	}
	// A user deleted meanwhile has no membership left to remove.
	c.changeMembership(v, name, &storage.User{ID: id}, false, "/admin/groups/"+name)
}
