"""ISO 20022 status and return reason codes: what each means and what to do about it.

Banks give a reason with every rejection (pain.002 / pacs.002 ``StsRsnInf``) and every
return of money (camt.054 ``RtrInf``, pacs.004 ``RtrRsnInf``), from the ISO external code
sets ExternalStatusReason1Code and ExternalReturnReason1Code. This module holds one entry
per code banks use: an English explanation, a Vietnamese one a commune officer can act on,
the :class:`ConsequenceClass` the service acts on by itself, and the :class:`ReasonAction`
a person should take.

The consequence class drives automatic steps (``reconciliation.consequences``: an
``account_problem`` flags the beneficiary's account, ``deceased`` suspends the person; the
batch build, ``disburse.payments.plan``, re-routes every ``account_problem`` to cash and
carries its arrears), so
only codes that are surely about the beneficiary's own account carry ``account_problem``;
codes about the department's disbursement account, the file or the banks are ``format`` or
``other``. Where the status and the return code sets give one code two meanings, the code is
left out and described as unknown rather than guessed. Code names and meanings come from
the public ISO external code list; the explanations are this project's own words.

An unknown code is kept and described generically (:func:`describe_reason`), never refused.
Pure data with no imports beyond the standard library: the kernel's, because both the
payments domain (re-routing, arrears) and reconciliation (consequences, reports) act on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class ConsequenceClass(StrEnum):
    """What a reason code means for the next step (re-routing, stopping, retrying)."""

    ACCOUNT_PROBLEM = "account_problem"
    DECEASED = "deceased"
    RETRY = "retry"
    DUPLICATE = "duplicate"
    FORMAT = "format"
    NAME = "name"
    OTHER = "other"


class ReasonAction(StrEnum):
    """What a person should do about a rejected or returned payment."""

    FIX_ACCOUNT = "fix_account"
    REVERIFY_PERSON = "reverify_person"
    CONTACT_BENEFICIARY = "contact_beneficiary"
    REROUTE_CASH = "reroute_cash"
    RETRY_NEXT_RUN = "retry_next_run"
    CONTACT_BANK = "contact_bank"
    NONE = "none"


#: Vietnamese label of each action, for pages, exports and the exceptions queue.
ACTION_LABELS_VI: Final[dict[ReasonAction, str]] = {
    ReasonAction.FIX_ACCOUNT: "Cập nhật tài khoản của người hưởng",
    ReasonAction.REVERIFY_PERSON: "Xác minh lại người hưởng",
    ReasonAction.CONTACT_BENEFICIARY: "Liên hệ người hưởng",
    ReasonAction.REROUTE_CASH: "Chuyển sang chi tiền mặt",
    ReasonAction.RETRY_NEXT_RUN: "Chi lại ở đợt sau",
    ReasonAction.CONTACT_BANK: "Báo Sở làm việc với ngân hàng",
    ReasonAction.NONE: "Không cần xử lý",
}
#: English label of each action.
ACTION_LABELS_EN: Final[dict[ReasonAction, str]] = {
    ReasonAction.FIX_ACCOUNT: "Update the beneficiary's account",
    ReasonAction.REVERIFY_PERSON: "Re-verify the beneficiary",
    ReasonAction.CONTACT_BENEFICIARY: "Contact the beneficiary",
    ReasonAction.REROUTE_CASH: "Pay in cash instead",
    ReasonAction.RETRY_NEXT_RUN: "Pay again in the next run",
    ReasonAction.CONTACT_BANK: "Department to take up with the bank",
    ReasonAction.NONE: "Nothing to do",
}


@dataclass(frozen=True, slots=True)
class ReasonInfo:
    """Description of one ISO external status or return reason code.

    Attributes:
        code: The code as the bank wrote it.
        english: What it means, in English.
        vietnamese: What it means and what to do, in plain Vietnamese.
        consequence: What the service does by itself (see :class:`ConsequenceClass`).
        action: What a person should do.
    """

    code: str
    english: str
    vietnamese: str
    consequence: ConsequenceClass
    action: ReasonAction

    @property
    def action_label(self) -> str:
        """The action in Vietnamese (e.g. ``Cập nhật tài khoản của người hưởng``)."""
        return ACTION_LABELS_VI[self.action]


_C = ConsequenceClass
_A = ReasonAction
# Shared endings of the Vietnamese explanations: say whose problem it is and who acts.
_DEPT = "không phải lỗi của người hưởng: báo cán bộ chi trả của Sở để làm việc với ngân hàng"
_FILE = "lỗi trong tệp chi trả, " + _DEPT
_SIGN = "lỗi chữ ký điện tử của tệp chi trả, " + _DEPT
_RETRY = "không phải lỗi của người hưởng: khoản tiền sẽ được chi lại ở đợt sau"
_NEW_ACCOUNT = "hỏi người hưởng số tài khoản đúng (xem thẻ hoặc sổ ngân hàng) rồi cập nhật"

_Row = tuple[str, str, str, ConsequenceClass, ReasonAction]
_ROWS: Final[tuple[_Row, ...]] = (
    # --- aborted by a clearing or settlement system: transient ------------------------------
    ("AB01", "Aborted: clearing timed out", f"Hệ thống bù trừ quá thời gian chờ, {_RETRY}",
     _C.RETRY, _A.RETRY_NEXT_RUN),
    ("AB02", "Aborted: fatal clearing error", f"Hệ thống bù trừ gặp lỗi, {_RETRY}",
     _C.RETRY, _A.RETRY_NEXT_RUN),
    ("AB03", "Aborted: settlement timed out", f"Hệ thống quyết toán quá thời gian chờ, {_RETRY}",
     _C.RETRY, _A.RETRY_NEXT_RUN),
    ("AB04", "Aborted: fatal settlement error", f"Hệ thống quyết toán gặp lỗi, {_RETRY}",
     _C.RETRY, _A.RETRY_NEXT_RUN),
    ("AB05", "Beneficiary's bank did not answer in time",
     f"Ngân hàng của người hưởng không trả lời kịp, {_RETRY}", _C.RETRY, _A.RETRY_NEXT_RUN),
    ("AB06", "Instructed bank did not answer in time",
     f"Ngân hàng nhận lệnh không trả lời kịp, {_RETRY}", _C.RETRY, _A.RETRY_NEXT_RUN),
    ("AB07", "A bank in the chain is offline",
     f"Một ngân hàng trung gian đang ngừng kết nối, {_RETRY}",
     _C.RETRY, _A.RETRY_NEXT_RUN),
    ("AB08", "Beneficiary's bank is offline",
     f"Ngân hàng của người hưởng đang ngừng kết nối, {_RETRY}", _C.RETRY, _A.RETRY_NEXT_RUN),
    ("AB09", "Error at the beneficiary's bank", f"Ngân hàng của người hưởng gặp lỗi, {_RETRY}",
     _C.RETRY, _A.RETRY_NEXT_RUN),
    ("AB10", "Error at the instructed bank", f"Ngân hàng nhận lệnh gặp lỗi, {_RETRY}",
     _C.RETRY, _A.RETRY_NEXT_RUN),
    # --- accounts ----------------------------------------------------------------------------
    ("AC01", "Account number is wrong or does not exist",
     f"Số tài khoản không đúng hoặc không tồn tại: {_NEW_ACCOUNT}",
     _C.ACCOUNT_PROBLEM, _A.FIX_ACCOUNT),
    ("AC02", "Disbursement (debtor) account number is not valid",
     f"Tài khoản chi của Sở không hợp lệ, {_DEPT}", _C.OTHER, _A.CONTACT_BANK),
    ("AC03", "Beneficiary (creditor) account number is not valid",
     f"Số tài khoản của người hưởng không hợp lệ: {_NEW_ACCOUNT}",
     _C.ACCOUNT_PROBLEM, _A.FIX_ACCOUNT),
    ("AC04", "Account closed",
     "Tài khoản đã đóng: liên hệ người hưởng để lấy số tài khoản mới",
     _C.ACCOUNT_PROBLEM, _A.FIX_ACCOUNT),
    ("AC05", "Disbursement (debtor) account closed", f"Tài khoản chi của Sở đã đóng, {_DEPT}",
     _C.OTHER, _A.CONTACT_BANK),
    ("AC06", "Account blocked",
     "Tài khoản bị phong tỏa hoặc tạm khóa: chi tiền mặt kỳ này và đề nghị người hưởng đến "
     "ngân hàng để mở khóa", _C.ACCOUNT_PROBLEM, _A.REROUTE_CASH),
    ("AC07", "Beneficiary (creditor) account closed",
     "Tài khoản của người hưởng đã đóng: liên hệ người hưởng để lấy số tài khoản mới",
     _C.ACCOUNT_PROBLEM, _A.FIX_ACCOUNT),
    ("AC08", "Branch code is not valid",
     "Mã chi nhánh ngân hàng không đúng: kiểm tra lại ngân hàng và chi nhánh nơi người hưởng "
     "mở tài khoản", _C.OTHER, _A.FIX_ACCOUNT),
    ("AC09", "Account currency cannot take this payment",
     "Tài khoản không nhận được tiền đồng (VND): xin người hưởng một tài khoản thanh toán "
     "bằng VND", _C.ACCOUNT_PROBLEM, _A.FIX_ACCOUNT),
    ("AC10", "Disbursement (debtor) account currency is not valid",
     f"Loại tiền của tài khoản chi của Sở không hợp lệ, {_DEPT}", _C.OTHER, _A.CONTACT_BANK),
    ("AC11", "Beneficiary (creditor) account currency is not valid",
     "Tài khoản của người hưởng không nhận được tiền đồng (VND): xin người hưởng một tài "
     "khoản thanh toán bằng VND", _C.ACCOUNT_PROBLEM, _A.FIX_ACCOUNT),
    ("AC12", "Account type cannot take this payment",
     "Loại tài khoản không nhận được khoản chi này (ví dụ tài khoản tiết kiệm): xin người "
     "hưởng một tài khoản thanh toán", _C.ACCOUNT_PROBLEM, _A.FIX_ACCOUNT),
    ("AC13", "Disbursement (debtor) account type is not valid",
     f"Loại tài khoản chi của Sở không hợp lệ, {_DEPT}", _C.OTHER, _A.CONTACT_BANK),
    ("AC14", "Beneficiary (creditor) account type is not valid",
     "Loại tài khoản của người hưởng không nhận được khoản chi này: xin người hưởng một tài "
     "khoản thanh toán", _C.ACCOUNT_PROBLEM, _A.FIX_ACCOUNT),
    ("AC15", "Account details have changed",
     "Thông tin tài khoản đã thay đổi tại ngân hàng: hỏi người hưởng thông tin tài khoản mới "
     "rồi cập nhật", _C.ACCOUNT_PROBLEM, _A.FIX_ACCOUNT),
    # --- the transaction or the bank ---------------------------------------------------------
    ("AG01", "Transaction forbidden on this account",
     "Tài khoản này không được nhận loại giao dịch này: xin người hưởng một tài khoản thanh "
     "toán khác", _C.ACCOUNT_PROBLEM, _A.FIX_ACCOUNT),
    ("AG02", "Bank operation code is not valid", f"Mã nghiệp vụ sai, {_FILE}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("AG03", "Transaction type not supported",
     f"Ngân hàng không hỗ trợ loại giao dịch này, {_DEPT}",
     _C.OTHER, _A.CONTACT_BANK),
    ("AG04", "Bank country is not valid", f"Quốc gia của ngân hàng không hợp lệ, {_FILE}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("AG05", "Debtor's bank country is not valid",
     f"Quốc gia của ngân hàng chi không hợp lệ, {_FILE}", _C.FORMAT, _A.CONTACT_BANK),
    ("AG06", "Creditor's bank country is not valid",
     f"Quốc gia của ngân hàng nhận không hợp lệ, {_FILE}", _C.FORMAT, _A.CONTACT_BANK),
    ("AG07", "Direct debit unsuccessful", f"Trích nợ tự động không thành công, {_DEPT}",
     _C.OTHER, _A.CONTACT_BANK),
    ("AG08", "Access rights insufficient", f"Tài khoản chi không đủ quyền thực hiện lệnh, {_DEPT}",
     _C.OTHER, _A.CONTACT_BANK),
    ("AG09", "Payment not received by the bank", f"Ngân hàng chưa nhận được khoản chi, {_DEPT}",
     _C.OTHER, _A.CONTACT_BANK),
    ("AG10", "A bank in the chain is suspended",
     f"Một ngân hàng trong chuỗi thanh toán đang bị tạm ngừng hoạt động, {_DEPT}",
     _C.OTHER, _A.CONTACT_BANK),
    ("AG11", "Beneficiary's bank is suspended",
     "Ngân hàng của người hưởng đang bị tạm ngừng hoạt động: chi tiền mặt kỳ này", _C.OTHER,
     _A.REROUTE_CASH),
    ("AG12", "Book transfer not allowed", f"Ngân hàng không cho chuyển nội bộ khoản này, {_DEPT}",
     _C.OTHER, _A.CONTACT_BANK),
    ("AG13", "Return of the payment is forbidden",
     f"Ngân hàng không cho hoàn trả khoản này, {_DEPT}", _C.OTHER, _A.CONTACT_BANK),
    ("AGNT", "Incorrect bank in the payment chain", f"Ngân hàng trung gian không đúng, {_FILE}",
     _C.FORMAT, _A.CONTACT_BANK),
    # --- amounts -----------------------------------------------------------------------------
    ("AM01", "Amount is zero", f"Số tiền bằng 0, {_FILE}", _C.FORMAT, _A.CONTACT_BANK),
    ("AM02", "Amount not allowed", f"Số tiền không được phép, {_DEPT}", _C.OTHER, _A.CONTACT_BANK),
    ("AM03", "Currency not allowed", f"Loại tiền không được phép, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("AM04", "Insufficient funds in the disbursement account",
     f"Tài khoản chi của Sở không đủ tiền, {_RETRY}", _C.RETRY, _A.RETRY_NEXT_RUN),
    ("AM05", "Duplicate payment",
     "Ngân hàng từ chối vì trùng với một lệnh đã nhận: báo Sở kiểm tra với ngân hàng xem "
     "khoản chi gốc đã đến người hưởng chưa", _C.DUPLICATE, _A.CONTACT_BANK),
    ("AM06", "Amount too low", f"Số tiền thấp hơn mức ngân hàng chấp nhận, {_DEPT}", _C.OTHER,
     _A.CONTACT_BANK),
    ("AM07", "Amount blocked", f"Số tiền bị giữ lại theo quy định, {_DEPT}", _C.OTHER,
     _A.CONTACT_BANK),
    ("AM09", "Wrong amount",
     "Ngân hàng báo số tiền không đúng: báo Sở đối chiếu số tiền người hưởng được nhận",
     _C.OTHER, _A.CONTACT_BANK),
    ("AM10", "Control sum is wrong", f"Tổng tiền của tệp không khớp, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("AM11", "Transaction currency is not valid", f"Loại tiền không hợp lệ, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("AM12", "Amount is not valid", f"Số tiền ghi sai, {_FILE}", _C.FORMAT, _A.CONTACT_BANK),
    ("AM13", "Amount exceeds the clearing system limit",
     f"Số tiền vượt hạn mức của hệ thống thanh toán, {_DEPT}", _C.OTHER, _A.CONTACT_BANK),
    ("AM14", "Amount exceeds the agreed limit", f"Số tiền vượt hạn mức đã thỏa thuận, {_DEPT}",
     _C.OTHER, _A.CONTACT_BANK),
    ("AM15", "Amount below the clearing system minimum",
     f"Số tiền thấp hơn mức tối thiểu của hệ thống thanh toán, {_DEPT}", _C.OTHER,
     _A.CONTACT_BANK),
    ("AM16", "Group control sum is wrong", f"Tổng tiền của tệp không khớp, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("AM17", "Payment block control sum is wrong",
     f"Tổng tiền của một khối lệnh không khớp, {_FILE}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("AM18", "Number of transactions is wrong", f"Số lệnh trong tệp không khớp, {_FILE}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("AM19", "Group number of transactions is wrong", f"Số lệnh trong tệp không khớp, {_FILE}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("AM20", "Payment block number of transactions is wrong",
     f"Số lệnh của một khối lệnh không khớp, {_FILE}", _C.FORMAT, _A.CONTACT_BANK),
    ("AM21", "Limit exceeded", f"Vượt hạn mức giao dịch, {_DEPT}", _C.OTHER, _A.CONTACT_BANK),
    ("AM22", "Zero amount not applied", f"Lệnh số tiền 0 không được xử lý, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("AM23", "Amount exceeds the settlement limit", f"Số tiền vượt hạn mức quyết toán, {_DEPT}",
     _C.OTHER, _A.CONTACT_BANK),
    ("ARDT", "Already returned",
     "Khoản này đã được ngân hàng hoàn trả trước đó: không cần làm gì thêm", _C.DUPLICATE,
     _A.NONE),
    # --- parties -----------------------------------------------------------------------------
    ("BE01", "Name does not match the account holder",
     "Tên người hưởng không khớp với chủ tài khoản: đối chiếu họ tên trên CCCD với tên trên "
     "tài khoản ngân hàng, sửa nếu ghi sai", _C.NAME, _A.REVERIFY_PERSON),
    ("BE04", "Beneficiary address missing",
     "Thiếu địa chỉ của người hưởng: bổ sung địa chỉ trong hồ sơ", _C.NAME, _A.REVERIFY_PERSON),
    ("BE05", "Initiating party not recognised", f"Ngân hàng không nhận ra đơn vị chi trả, {_DEPT}",
     _C.OTHER, _A.CONTACT_BANK),
    ("BE06", "Beneficiary unknown at the bank",
     "Ngân hàng không biết người hưởng này: kiểm tra lại họ tên, số CCCD và ngân hàng nơi "
     "người hưởng mở tài khoản", _C.NAME, _A.REVERIFY_PERSON),
    ("BE07", "Debtor address missing", f"Thiếu địa chỉ của Sở, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("BE08", "Error at the bank", f"Ngân hàng gặp lỗi, {_DEPT}", _C.OTHER, _A.CONTACT_BANK),
    ("BE09", "Country is not valid", f"Mã quốc gia sai, {_FILE}", _C.FORMAT, _A.CONTACT_BANK),
    ("BE10", "Debtor country is not valid", f"Mã quốc gia của Sở sai, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("BE11", "Creditor country is not valid", f"Mã quốc gia của người hưởng sai, {_FILE}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("BE15", "Identification code is not valid", f"Mã định danh không hợp lệ, {_DEPT}", _C.OTHER,
     _A.CONTACT_BANK),
    ("BE16", "Debtor identification code is not valid",
     f"Mã định danh của Sở không hợp lệ, {_FILE}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("BE17", "Creditor identification code is not valid",
     "Ngân hàng báo số giấy tờ tùy thân của người hưởng không hợp lệ: kiểm tra lại số CCCD",
     _C.NAME, _A.REVERIFY_PERSON),
    ("BE18", "Contact details are not valid", f"Thông tin liên lạc không hợp lệ, {_DEPT}",
     _C.OTHER, _A.CONTACT_BANK),
    ("BE19", "Charge bearer code is not valid", f"Mã bên chịu phí sai, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("BE20", "Name too long", f"Họ tên dài hơn mức ngân hàng chấp nhận, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("BE21", "Name missing", "Thiếu họ tên: bổ sung họ tên người hưởng trong hồ sơ", _C.NAME,
     _A.REVERIFY_PERSON),
    ("BE22", "Beneficiary name missing",
     "Thiếu họ tên người hưởng: bổ sung họ tên người hưởng trong hồ sơ", _C.NAME,
     _A.REVERIFY_PERSON),
    ("BE23", "Account alias (phone number or proxy) is not valid",
     "Số điện thoại hoặc bí danh của tài khoản không đúng: hỏi người hưởng số đúng rồi cập nhật",
     _C.ACCOUNT_PROBLEM, _A.FIX_ACCOUNT),
    # --- dates and scheme rules --------------------------------------------------------------
    ("CH03", "Requested execution date too far in the future",
     f"Ngày chi yêu cầu quá xa trong tương lai, {_FILE}", _C.FORMAT, _A.CONTACT_BANK),
    ("CH04", "Requested execution date too far in the past",
     f"Ngày chi yêu cầu đã quá lâu, {_FILE}", _C.FORMAT, _A.CONTACT_BANK),
    ("CH16", "Element content is formally incorrect", f"Một trường dữ liệu viết sai, {_FILE}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("CH17", "Element not admitted", f"Tệp có trường dữ liệu không được phép, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("CH21", "Required element missing", f"Thiếu trường dữ liệu bắt buộc, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("CN01", "Authorisation cancelled", f"Ủy quyền đã bị hủy, {_DEPT}", _C.OTHER,
     _A.CONTACT_BANK),
    ("CNOR", "Beneficiary's bank is not registered in the payment scheme",
     "Ngân hàng của người hưởng chưa tham gia hệ thống chuyển tiền: chi tiền mặt kỳ này và "
     "xin người hưởng tài khoản ở ngân hàng khác", _C.OTHER, _A.REROUTE_CASH),
    ("CURR", "Incorrect currency", f"Loại tiền không đúng, {_FILE}", _C.FORMAT, _A.CONTACT_BANK),
    ("CUST", "Requested by the customer (the paying department)",
     "Hủy hoặc hoàn trả theo yêu cầu của Sở: không cần làm gì", _C.OTHER, _A.NONE),
    ("DNOR", "Disbursing bank is not registered in the payment scheme",
     f"Ngân hàng chi chưa tham gia hệ thống chuyển tiền, {_DEPT}", _C.OTHER, _A.CONTACT_BANK),
    # --- electronic signatures and order handling --------------------------------------------
    ("DS01", "Electronic signatures correct", "Chữ ký điện tử hợp lệ: không cần làm gì",
     _C.OTHER, _A.NONE),
    ("DS02", "Order cancelled", f"Lệnh chi đã bị hủy, {_DEPT}", _C.OTHER, _A.CONTACT_BANK),
    ("DS03", "Order not cancelled", f"Yêu cầu hủy lệnh không thực hiện được, {_DEPT}", _C.OTHER,
     _A.CONTACT_BANK),
    ("DS04", "Order rejected", f"Ngân hàng từ chối cả lệnh chi, {_DEPT}", _C.OTHER,
     _A.CONTACT_BANK),
    ("DS05", "Order forwarded for processing", "Lệnh đã được chuyển đi xử lý: không cần làm gì",
     _C.OTHER, _A.NONE),
    ("DS06", "Transfer order received", "Ngân hàng đã nhận lệnh chuyển: không cần làm gì",
     _C.OTHER, _A.NONE),
    ("DS07", "Processing OK", "Ngân hàng đã xử lý xong: không cần làm gì", _C.OTHER, _A.NONE),
    ("DS08", "File could not be decompressed", f"Tệp nén bị hỏng, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("DS09", "File could not be decrypted", f"Không giải mã được tệp, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("DS0A", "Data signature requested", f"Ngân hàng yêu cầu ký tệp, {_SIGN}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("DS0B", "Data signature format unknown", f"Định dạng chữ ký không được nhận, {_SIGN}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("DS0C", "Signer certificate revoked", f"Chứng thư số của người ký đã bị thu hồi, {_SIGN}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("DS0D", "Signer certificate not valid", f"Chứng thư số của người ký không hợp lệ, {_SIGN}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("DS0E", "Incorrect signer certificate", f"Chứng thư số của người ký không đúng, {_SIGN}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("DS0F", "Signer's certification authority not valid",
     f"Tổ chức cấp chứng thư số không được chấp nhận, {_SIGN}", _C.FORMAT, _A.CONTACT_BANK),
    ("DS0G", "Payment not allowed for this signer",
     f"Người ký không được phép ký lệnh này, {_SIGN}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("DS0H", "Account not allowed for this signer",
     f"Người ký không được phép dùng tài khoản chi này, {_SIGN}", _C.FORMAT, _A.CONTACT_BANK),
    ("DS0K", "Number of transactions not allowed for this signer",
     f"Số lệnh vượt mức người ký được phép, {_SIGN}", _C.FORMAT, _A.CONTACT_BANK),
    ("DS10", "First signer's certificate revoked",
     f"Chứng thư số người ký thứ nhất bị thu hồi, {_SIGN}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("DS11", "First signer's certificate not valid",
     f"Chứng thư số người ký thứ nhất không hợp lệ, {_SIGN}", _C.FORMAT, _A.CONTACT_BANK),
    ("DS12", "Incorrect first signer certificate",
     f"Chứng thư số người ký thứ nhất không đúng, {_SIGN}", _C.FORMAT, _A.CONTACT_BANK),
    ("DS13", "First signer's certification authority not valid",
     f"Tổ chức cấp chứng thư số cho người ký thứ nhất không được chấp nhận, {_SIGN}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("DS14", "Signing user does not exist", f"Người ký chưa được đăng ký tại ngân hàng, {_SIGN}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("DS15", "Identical signature already present", f"Tệp bị ký trùng, {_SIGN}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("DS16", "Public key version incorrect", f"Phiên bản khóa ký không đúng, {_SIGN}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("DS17", "Order data differs between signatures",
     f"Nội dung lệnh khác nhau giữa các chữ ký, {_SIGN}", _C.FORMAT, _A.CONTACT_BANK),
    ("DS18", "Repeated order", "Lệnh bị gửi lặp lại: báo Sở kiểm tra với ngân hàng xem lệnh gốc "
     "đã được chi chưa", _C.DUPLICATE, _A.CONTACT_BANK),
    ("DS19", "Signature rights insufficient", f"Người ký không đủ quyền, {_SIGN}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("DS20", "Second signer's certificate revoked",
     f"Chứng thư số người ký thứ hai bị thu hồi, {_SIGN}", _C.FORMAT, _A.CONTACT_BANK),
    ("DS21", "Second signer's certificate not valid",
     f"Chứng thư số người ký thứ hai không hợp lệ, {_SIGN}", _C.FORMAT, _A.CONTACT_BANK),
    ("DS22", "Incorrect second signer certificate",
     f"Chứng thư số người ký thứ hai không đúng, {_SIGN}", _C.FORMAT, _A.CONTACT_BANK),
    ("DS23", "Second signer's certification authority not valid",
     f"Tổ chức cấp chứng thư số cho người ký thứ hai không được chấp nhận, {_SIGN}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("DS24", "Waiting time for signatures expired", f"Quá thời hạn chờ đủ chữ ký, {_SIGN}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("DS25", "Order file deleted", f"Tệp lệnh đã bị xóa tại ngân hàng, {_DEPT}", _C.OTHER,
     _A.CONTACT_BANK),
    ("DS26", "Same user signed more than once", f"Một người ký nhiều lần, {_SIGN}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("DS27", "Signing user not yet activated", f"Người ký chưa được kích hoạt, {_SIGN}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("DS28", "Returned after a technical problem", f"Hoàn trả do lỗi kỹ thuật, {_RETRY}",
     _C.RETRY, _A.RETRY_NEXT_RUN),
    ("DT01", "Date is not valid", f"Ngày ghi trong tệp không hợp lệ, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("DT03", "Date is not a processing day", f"Ngày chi rơi vào ngày nghỉ, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("DT04", "Future date not supported",
     f"Ngân hàng không nhận lệnh chi ghi ngày tương lai, {_FILE}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("DT05", "Cut-off date is not valid", f"Ngày khóa sổ không hợp lệ, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("DT06", "Execution date changed",
     "Ngân hàng đổi ngày chi: tiền đến muộn hơn dự kiến, không cần làm gì", _C.OTHER, _A.NONE),
    # --- duplicates --------------------------------------------------------------------------
    ("DU01", "Duplicate message identification",
     f"Mã tệp chi bị trùng với tệp đã gửi, {_DEPT}", _C.DUPLICATE, _A.CONTACT_BANK),
    ("DU02", "Duplicate payment block identification",
     f"Mã khối lệnh bị trùng với khối đã gửi, {_DEPT}", _C.DUPLICATE, _A.CONTACT_BANK),
    ("DU03", "Duplicate transaction", "Lệnh bị trùng với lệnh đã gửi: báo Sở kiểm tra với "
     "ngân hàng xem lệnh gốc đã được chi chưa", _C.DUPLICATE, _A.CONTACT_BANK),
    ("DU04", "Duplicate EndToEndId", "Mã giao dịch bị trùng với lệnh đã gửi: báo Sở kiểm tra "
     "với ngân hàng xem lệnh gốc đã được chi chưa", _C.DUPLICATE, _A.CONTACT_BANK),
    ("DU05", "Duplicate instruction identification", f"Mã lệnh bị trùng, {_DEPT}", _C.DUPLICATE,
     _A.CONTACT_BANK),
    ("DUPL", "Duplicate payment",
     "Ngân hàng từ chối vì trùng với một lệnh đã nhận: báo Sở kiểm tra với ngân hàng xem "
     "khoản chi gốc đã đến người hưởng chưa", _C.DUPLICATE, _A.CONTACT_BANK),
    # --- settlement and scheme ---------------------------------------------------------------
    ("ED01", "Correspondent bank not possible", f"Không chuyển được qua ngân hàng đại lý, {_DEPT}",
     _C.OTHER, _A.CONTACT_BANK),
    ("ED03", "Balance information requested", f"Ngân hàng yêu cầu thông tin số dư, {_DEPT}",
     _C.OTHER, _A.CONTACT_BANK),
    ("ED05", "Settlement failed", f"Quyết toán không thành công, {_RETRY}", _C.RETRY,
     _A.RETRY_NEXT_RUN),
    ("ED06", "Settlement system not available", f"Hệ thống quyết toán đang ngừng, {_RETRY}",
     _C.RETRY, _A.RETRY_NEXT_RUN),
    ("ERIN", "Extended remittance information option not supported",
     f"Ngân hàng không nhận phần nội dung mở rộng, {_FILE}", _C.FORMAT, _A.CONTACT_BANK),
    ("FF01", "File format is not valid", f"Sai định dạng tệp, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("FF02", "Syntax error", f"Tệp viết sai cú pháp, {_FILE}", _C.FORMAT, _A.CONTACT_BANK),
    ("FF03", "Payment type information is not valid", f"Thông tin loại thanh toán sai, {_FILE}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("FF04", "Service level code is not valid", f"Mã mức dịch vụ sai, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("FF05", "Local instrument code is not valid", f"Mã hình thức thanh toán sai, {_FILE}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("FF06", "Category purpose code is not valid", f"Mã nhóm mục đích sai, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("FF07", "Purpose is not valid", f"Mã mục đích thanh toán sai, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("FF08", "EndToEndId is not valid", f"Mã giao dịch sai, {_FILE}", _C.FORMAT, _A.CONTACT_BANK),
    ("FF09", "Cheque number is not valid", f"Số séc sai, {_FILE}", _C.FORMAT, _A.CONTACT_BANK),
    ("FF10", "Bank system processing error", f"Hệ thống ngân hàng gặp lỗi khi xử lý, {_RETRY}",
     _C.RETRY, _A.RETRY_NEXT_RUN),
    ("FF11", "Clearing request aborted", f"Lệnh bù trừ bị dừng giữa chừng, {_RETRY}", _C.RETRY,
     _A.RETRY_NEXT_RUN),
    ("FOCR", "Returned following a cancellation request",
     "Hoàn trả theo yêu cầu hủy lệnh của Sở: không cần làm gì", _C.OTHER, _A.NONE),
    ("FR01", "Fraud suspected",
     "Ngân hàng nghi có gian lận: xác minh lại trực tiếp người hưởng và tài khoản trước khi "
     "chi tiếp", _C.OTHER, _A.REVERIFY_PERSON),
    # --- mandates and end customers ----------------------------------------------------------
    ("MD01", "No mandate", f"Không có ủy quyền cho giao dịch này, {_DEPT}", _C.OTHER,
     _A.CONTACT_BANK),
    ("MD02", "Mandate information missing", f"Thiếu thông tin ủy quyền, {_DEPT}", _C.OTHER,
     _A.CONTACT_BANK),
    ("MD05", "Collection not due", f"Khoản thu chưa đến hạn, {_DEPT}", _C.OTHER,
     _A.CONTACT_BANK),
    ("MD06", "Refund requested by the end customer",
     "Người hưởng yêu cầu trả lại tiền: liên hệ người hưởng để hỏi lý do (ví dụ không còn "
     "thuộc diện hưởng)", _C.OTHER, _A.CONTACT_BENEFICIARY),
    ("MD07", "Beneficiary deceased",
     "Ngân hàng báo chủ tài khoản đã mất: xác minh với gia đình và cơ sở dữ liệu dân cư; "
     "hồ sơ được tạm dừng chi cho đến khi xác minh xong", _C.DECEASED, _A.REVERIFY_PERSON),
    ("MS02", "Reason not given (by the customer)",
     "Người hưởng từ chối hoặc trả lại tiền mà không nêu lý do: liên hệ người hưởng để hỏi",
     _C.OTHER, _A.CONTACT_BENEFICIARY),
    ("MS03", "Reason not given (by the bank)", f"Ngân hàng không nêu lý do, {_DEPT}", _C.OTHER,
     _A.CONTACT_BANK),
    ("NARR", "See the bank's narrative",
     "Xem ghi chú kèm theo của ngân hàng; nếu chưa rõ, báo Sở hỏi ngân hàng", _C.OTHER,
     _A.CONTACT_BANK),
    ("NOAS", "No answer from the beneficiary",
     "Người hưởng không trả lời ngân hàng: liên hệ người hưởng", _C.OTHER,
     _A.CONTACT_BENEFICIARY),
    ("NOCM", "Account not compliant with regulations",
     "Tài khoản chưa đủ điều kiện theo quy định (ví dụ chưa cập nhật giấy tờ tùy thân với "
     "ngân hàng): đề nghị người hưởng đến ngân hàng cập nhật", _C.OTHER,
     _A.CONTACT_BENEFICIARY),
    ("NOOR", "Original transaction never received",
     f"Ngân hàng không tìm thấy lệnh gốc, {_DEPT}", _C.OTHER, _A.CONTACT_BANK),
    # --- bank identifiers --------------------------------------------------------------------
    ("RC01", "Bank identifier incorrect",
     "Mã ngân hàng của tài khoản không đúng: kiểm tra lại ngân hàng nơi người hưởng mở tài "
     "khoản", _C.FORMAT, _A.FIX_ACCOUNT),
    ("RC02", "Bank identifier is not valid",
     "Mã ngân hàng không hợp lệ: kiểm tra lại ngân hàng nơi người hưởng mở tài khoản",
     _C.FORMAT, _A.FIX_ACCOUNT),
    ("RC03", "Debtor bank identifier is not valid", f"Mã ngân hàng chi sai, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("RC04", "Creditor bank identifier is not valid",
     "Mã ngân hàng của người hưởng không hợp lệ: kiểm tra lại ngân hàng nơi người hưởng mở "
     "tài khoản", _C.FORMAT, _A.FIX_ACCOUNT),
    ("RC05", "BIC is not valid", f"Mã BIC của ngân hàng sai, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("RC06", "Debtor BIC is not valid", f"Mã BIC của ngân hàng chi sai, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("RC07", "Creditor BIC is not valid",
     "Mã BIC của ngân hàng người hưởng không hợp lệ: kiểm tra lại ngân hàng nơi người hưởng "
     "mở tài khoản", _C.FORMAT, _A.FIX_ACCOUNT),
    ("RC08", "Clearing system member identifier is not valid",
     f"Mã thành viên hệ thống thanh toán sai, {_FILE}", _C.FORMAT, _A.CONTACT_BANK),
    ("RC09", "Debtor clearing system member identifier is not valid",
     f"Mã thành viên của ngân hàng chi sai, {_FILE}", _C.FORMAT, _A.CONTACT_BANK),
    ("RC10", "Creditor clearing system member identifier is not valid",
     "Mã ngân hàng (mã BIN) của người hưởng không hợp lệ: kiểm tra lại ngân hàng nơi người "
     "hưởng mở tài khoản", _C.FORMAT, _A.FIX_ACCOUNT),
    ("RC11", "Intermediary bank is not valid", f"Ngân hàng trung gian không hợp lệ, {_FILE}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("RC12", "Creditor scheme identifier missing", f"Thiếu mã định danh người thu, {_FILE}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("RF01", "Transaction reference is not unique", f"Mã tham chiếu giao dịch bị trùng, {_DEPT}",
     _C.DUPLICATE, _A.CONTACT_BANK),
    # --- regulatory and remittance information -----------------------------------------------
    ("RR01", "Debtor account or identification missing",
     f"Thiếu tài khoản hoặc mã định danh của Sở, {_FILE}", _C.FORMAT, _A.CONTACT_BANK),
    ("RR02", "Debtor name or address missing", f"Thiếu tên hoặc địa chỉ của Sở, {_FILE}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("RR03", "Creditor name or address missing",
     "Thiếu họ tên hoặc địa chỉ người hưởng: bổ sung trong hồ sơ người hưởng", _C.NAME,
     _A.REVERIFY_PERSON),
    ("RR04", "Regulatory reason", f"Ngân hàng từ chối vì lý do quy định pháp luật, {_DEPT}",
     _C.OTHER, _A.CONTACT_BANK),
    ("RR05", "Regulatory information is not valid", f"Thông tin báo cáo theo quy định sai, {_FILE}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("RR06", "Tax information is not valid", f"Thông tin thuế sai, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("RR07", "Remittance information is not valid", f"Nội dung chuyển tiền sai, {_FILE}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("RR08", "Remittance information truncated", f"Nội dung chuyển tiền bị cắt ngắn, {_FILE}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("RR09", "Structured creditor reference is not valid",
     f"Mã tham chiếu của người nhận sai, {_FILE}", _C.FORMAT, _A.CONTACT_BANK),
    ("RR10", "Missing or invalid characters in a regulatory field",
     f"Thiếu hoặc sai ký tự ở trường bắt buộc, {_FILE}", _C.OTHER, _A.CONTACT_BANK),
    ("RR11", "Debtor bank service identifier is not valid",
     f"Mã dịch vụ của ngân hàng chi sai, {_FILE}",
     _C.FORMAT, _A.CONTACT_BANK),
    ("RR12", "Party identification is not valid", f"Mã định danh của một bên không hợp lệ, {_DEPT}",
     _C.OTHER, _A.CONTACT_BANK),
    ("RUTA", "Returned because it could not be applied",
     f"Ngân hàng hoàn trả vì không ghi có được vào tài khoản, {_DEPT}", _C.OTHER,
     _A.CONTACT_BANK),
    # --- services, stops, time ---------------------------------------------------------------
    ("SL01", "Specific service of the debtor's bank", f"Dịch vụ riêng của ngân hàng chi, {_DEPT}",
     _C.OTHER, _A.CONTACT_BANK),
    ("SL02", "Specific service of the creditor's bank",
     f"Dịch vụ riêng của ngân hàng người hưởng, {_DEPT}", _C.OTHER, _A.CONTACT_BANK),
    ("SP01", "Payment stopped", f"Khoản chi bị dừng, {_DEPT}", _C.OTHER, _A.CONTACT_BANK),
    ("SP02", "Payment previously stopped", f"Khoản chi đã bị dừng trước đó, {_DEPT}", _C.OTHER,
     _A.CONTACT_BANK),
    ("TD01", "No data available", f"Ngân hàng không có dữ liệu, {_DEPT}", _C.OTHER,
     _A.CONTACT_BANK),
    ("TD02", "File not readable", f"Ngân hàng không đọc được tệp, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("TD03", "File structure incorrect", f"Cấu trúc tệp sai, {_FILE}", _C.FORMAT,
     _A.CONTACT_BANK),
    ("TM01", "Received after the cut-off time", f"Ngân hàng nhận lệnh sau giờ khóa sổ, {_RETRY}",
     _C.RETRY, _A.RETRY_NEXT_RUN),
    ("UPAY", "Undue payment",
     "Khoản chi bị coi là không đúng: xác minh lại người hưởng còn đủ điều kiện hưởng không",
     _C.OTHER, _A.REVERIFY_PERSON),
)

#: Every known code, by code.
REASON_CODES: Final[dict[str, ReasonInfo]] = {row[0]: ReasonInfo(*row) for row in _ROWS}

_UNKNOWN_EN = "Unknown reason code"
_UNKNOWN_VI = ("Mã lý do không xác định: xem ghi chú kèm theo của ngân hàng; nếu chưa rõ, báo "
               "Sở hỏi ngân hàng")


def describe_reason(code: str | None) -> ReasonInfo | None:
    """Look up an ISO reason code; unknown codes get a generic description, never an error.

    Args:
        code: The code as read from the file (e.g. ``AC04`` or a bank's ``ZZ99``).

    Returns:
        The known description, a generic ``other`` entry (action: take it up with the bank)
        for an unknown code, or None when there is no code at all.
    """
    if code is None:
        return None
    known = REASON_CODES.get(code)
    if known is not None:
        return known
    return ReasonInfo(code, _UNKNOWN_EN, _UNKNOWN_VI, ConsequenceClass.OTHER,
                      ReasonAction.CONTACT_BANK)


def codes_of(consequence: ConsequenceClass) -> frozenset[str]:
    """The known codes of one consequence class (e.g. every ``account_problem`` code).

    Args:
        consequence: The class wanted.

    Returns:
        Their codes.
    """
    return frozenset(code for code, info in REASON_CODES.items()
                     if info.consequence is consequence)
