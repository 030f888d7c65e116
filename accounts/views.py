"""REST views of /api/v1/users: check the input, call accounts.services, shape the answer.

Signup and login are async views that wait for accounts.services' password threads: a
burst of them neither holds a thread per request nor hashes on all of them at once."""

import time

from accounts import names, services
from accounts.auth import auth_required, clear_auth_cookie, set_auth_cookie
from animomeet.http import ApiError, ApiResponse, api_view, client_address, json_object, message_response, string_field


@api_view("POST")
async def signup(request):
    body = json_object(request)
    name = string_field(body, "name", max_length=services.NAME_MAX_LENGTH, refusal=names.refusal)
    username = string_field(
        body,
        "username",
        max_length=services.USERNAME_MAX_LENGTH,
        pattern=services.USERNAME_PATTERN,
        pattern_hint="may contain only letters, digits, '_', '.' and '-'",
        refusal=names.refusal,
    )
    password = string_field(
        body,
        "password",
        min_length=services.PASSWORD_MIN_LENGTH,
        max_length=services.PASSWORD_MAX_LENGTH,
    )
    try:
        await services.aregister(name=name, username=username, password=password, address=client_address(request))
    except services.UsernameTaken:
        raise ApiError(409, "User already exists ! Try a different username") from None
    return message_response(201, "User registered successfully")


@api_view("POST")
async def login(request):
    body = json_object(request)
    username, password = body.get("username"), body.get("password")
    # No signup rules here: accounts made by the Node backend, which had none, must
    # still log in. The body limit bounds the sizes.
    if not (isinstance(username, str) and username and isinstance(password, str) and password):
        raise ApiError(400, "Please provide all credentials")
    try:
        user, token = await services.alogin(username=username, password=password, address=client_address(request))
    except services.UnknownUser:
        raise ApiError(404, "User not found") from None
    except services.WrongPassword:
        raise ApiError(401, "invalid credentials") from None
    response = ApiResponse(
        {"token": token, "message": "login successful", "username": user.username, "name": user.name}
    )
    set_auth_cookie(response, token)
    return response


@api_view("GET")
@auth_required
def verify_user(request):
    user = request.user_doc
    return ApiResponse(
        {
            "message": "User validated",
            "name": user.name,
            "username": user.username,
            "time": int(time.time() * 1000),
            "token": request.auth_token,
        }
    )


@api_view("POST")
@auth_required
def logout(request):
    services.revoke_token(request.auth_token)
    response = message_response(200, "Logged out successfully")
    clear_auth_cookie(response)
    return response
