"""One sentence in plain Chinese per access event, for the patient's "who viewed my data" (谁看过我的影像).

Built only from what the event row and the account/institution tables hold (names of institutions and doctors,
the action, the decision, the basis), so the sentence cannot carry more than the structured fields beside it.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

_ROLE = {
    "doctor": "医生",
    "hospital": "医院系统",
    "service-desk": "服务台工作人员",
    "patient": "您本人",
    "proxy": "您的亲情账号",
    "auditor": "审计员",
    "admin": "管理员",
}

_ACTION = {
    "search": "查询了您的检查列表",
    "retrieve": "调阅了您的影像",
    "retrieve-metadata": "调阅了您的影像信息",
    "retrieve-frames": "调阅了您的影像",
    "retrieve-bulkdata": "调阅了您的影像",
    "retrieve-rendered": "查看了您的影像",
    "retrieve-thumbnail": "查看了您的影像缩略图",
    "list-reports": "查看了您的报告列表",
    "read-report": "查看了您的诊断报告",
    "upload": "上传了您的检查",
    "upload-report": "上传了您的诊断报告",
    "register-xref": "登记了您的就诊信息",
    "code-redeem": "使用了您出示的一次性授权码",
    "break-glass": "以紧急情况为由开启了紧急调阅",
    "break-glass-end": "结束了紧急调阅",
    "grant-create": "新增了一项授权",
    "grant-revoke": "撤销了一项授权",
    "code-issue": "生成了一次性授权码",
    "code-revoke": "作废了一次性授权码",
    "proxy-add": "添加了亲情账号",
    "proxy-remove": "移除了亲情账号",
    "desk-session-start": "在服务台核验了您的身份",
    "desk-register-child": "在服务台登记了儿童亲情账号",
}


def _basis(basis: str | None) -> str:
    if basis is None:
        return ""
    kind, _, number = basis.partition(":")
    words = {
        "grant": f"依据：您的授权（编号 {number}）",
        "one-time-code": "依据：您出示的一次性授权码",
        "break-glass": "依据：紧急调阅（已通知您并提交审计复核）",
        "own-institution": "依据：本院就诊记录",
        "own-upload": "依据：本院上传的检查",
        "own-data": "依据：本人查看",
        "proxy": "依据：亲情账号授权",
        "staff-assisted": "依据：服务台当面核验身份后协助办理",
    }
    return words.get(kind, f"依据：{basis}")


def summarize(
    *,
    occurred_at: dt.datetime,
    actor_role: str | None,
    institution_name: str | None,
    doctor: str | None,
    action: str,
    decision: str,
    basis: str | None,
) -> str:
    """E.g. ``2026年11月23日 10:05，太原市中心医院 王医生 调阅了您的影像（依据：您的授权（编号 12））。``"""
    when = occurred_at.astimezone(SHANGHAI).strftime("%Y年%m月%d日 %H:%M")
    who = " ".join(part for part in (institution_name, doctor or _ROLE.get(actor_role or "", "")) if part) or "某用户"
    if decision != "allow":
        return f"{when}，{who} 尝试访问您的数据，未获允许。"
    what = _ACTION.get(action, f"进行了操作「{action}」")
    why = _basis(basis)
    return f"{when}，{who} {what}" + (f"（{why}）" if why else "") + "。"
