package v1

// Message types.
const (
	TypeJoin        = "join"
	TypeMessage     = "message"
	TypeLeaveRoom   = "leaveRoom"
	TypeGetRoomList = "getRoomList"
	TypeConnected   = "connected"
	TypeRoomJoined  = "roomJoined"
	TypeUserJoined  = "userJoined"
	TypeUserLeft    = "userLeft"
	TypeRoomList    = "roomList"
	TypeError       = "error"
)

// Request is a client request. Only the fields of its type are meaningful.
type Request struct {
	Type     string `json:"type"`
	RoomID   string `json:"roomId"`
	Username string `json:"username"`
	RoomName string `json:"roomName"`
	Content  string `json:"content"`
}

// Connected is sent right after the upgrade.
type Connected struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	UserID  string `json:"userId"`
}

// RoomJoined answers a successful join.
type RoomJoined struct {
	Type        string `json:"type"`
	RoomID      string `json:"roomId"`
	MemberCount int    `json:"memberCount"`
	Message     string `json:"message"`
}

// RoomInfo is one entry of a room list.
type RoomInfo struct {
	RoomID      string `json:"roomId"`
	Name        string `json:"name"`
	MemberCount int    `json:"memberCount"`
	CreatedAt   string `json:"createdAt"`
}

// RoomList answers getRoomList.
type RoomList struct {
	Type  string     `json:"type"`
	Rooms []RoomInfo `json:"rooms"`
}

// Error reports a bad request; the connection stays open. Message keeps the
// reference app's texts; Code is chatd's and stable.
type Error struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Code    string `json:"code"`
}

// Types lists the message types, for pretouching the codec.
func Types() []any {
	return []any{Request{}, Connected{}, RoomJoined{}, RoomList{}, Error{}}
}
